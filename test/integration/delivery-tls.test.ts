// Outbound TLS: opportunistic by default (STARTTLS when offered, any
// certificate); a route set to required-verify sends only over TLS to a next
// hop whose certificate chains to a trusted CA and names the host, and
// otherwise keeps the message queued rather than sending it in clear.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { tempState } from '../helpers/state.js';
import { deliveryFixture, message, NextHop, nextHopPki, until } from './delivery-fixture.js';

const pkiDir = tempState(t, 'delivery-pki-');
const trusted = nextHopPki(join(pkiDir, 'trusted'));
const rogue = nextHopPki(join(pkiDir, 'rogue'), 'Rogue CA');

async function routeTo(t: Test, hop: NextHop, tls: 'opportunistic' | 'required-verify') {
  return deliveryFixture(t, {
    certificates: { trustStore: [{ name: 'next-hop-ca', pem: trusted.ca }] },
    routes: { smtpRoutes: [{ domain: 'example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }], tls }] },
  });
}

t.test('opportunistic TLS upgrades with STARTTLS whatever the certificate', async (t) => {
  const hop = await NextHop.start(t, { tls: rogue });
  const f = await routeTo(t, hop, 'opportunistic');
  await f.accept({ rcptTo: ['jane@example.org'] }, message('opportunistic'));
  const [got] = await hop.waitFor(1);
  t.equal(got?.secure, true, 'sent over TLS');
  t.match(f.mailLog(), /DCID \d+ TLS success protocol TLSv1\.3/);
});

t.test('opportunistic TLS sends in clear to a next hop without STARTTLS', async (t) => {
  const hop = await NextHop.start(t, { noStartTls: true });
  const f = await routeTo(t, hop, 'opportunistic');
  await f.accept({ rcptTo: ['jane@example.org'] }, message('clear'));
  const [got] = await hop.waitFor(1);
  t.equal(got?.secure, false);
});

t.test('required-verify delivers to a next hop with a trusted certificate', async (t) => {
  const hop = await NextHop.start(t, { tls: trusted });
  const f = await routeTo(t, hop, 'required-verify');
  await f.accept({ rcptTo: ['jane@example.org'] }, message('verified'));
  const [got] = await hop.waitFor(1);
  t.equal(got?.secure, true);
});

t.test('required-verify keeps the message queued when the certificate is not trusted or TLS is not offered', async (t) => {
  for (const [name, options] of [
    ['untrusted certificate', { tls: rogue }],
    ['no STARTTLS', { noStartTls: true }],
  ] as const) {
    const hop = await NextHop.start(t, options);
    const f = await routeTo(t, hop, 'required-verify');
    const mid = await f.accept({ rcptTo: ['jane@example.org'] }, message(name));
    await until('the attempt failed', () => new RegExp(`Delayed: DCID \\d+ MID ${mid}`).test(f.mailLog()));
    t.equal(hop.received.length, 0, `${name}: nothing sent`);
    t.ok(f.delivery.store.find(mid), `${name}: the message is still queued`);
    t.match(f.mailLog(), name === 'no STARTTLS' ? /STARTTLS|TLS/ : /certificate/i, `${name}: the reason is logged`);
  }
});
