// The whole way of a message: swaks → the real gateway (250 after the spool's
// fsync) → the delivery service on the same spool → a next hop on loopback;
// then findevent finds every mail log line of it, the gateway's and ours.
import { join } from 'node:path';
import t from 'tap';
import { Delivery } from '../../src/mail/delivery/delivery.js';
import { QueueStore } from '../../src/mail/delivery/queue-store.js';
import { findEvents } from '../../src/mail/findevent/findevent.js';
import { freePort, gatewayFixture, listenerConfig, startGateway, swaks } from '../helpers/gateway.js';
import { NextHop, until } from './delivery-fixture.js';

const fixture = await gatewayFixture(t);

t.test('a message accepted by the gateway is delivered, and findevent shows its whole way', async (t) => {
  const hop = await NextHop.start(t);
  const port = await freePort();
  const gw = await startGateway(t, fixture, {
    listeners: listenerConfig(port, { acceptedDomains: ['example.org'] }),
    routes: { smtpRoutes: [{ domain: 'example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] }] },
  });
  const delivery = new Delivery({ spoolDir: join(fixture.token.root, 'spool'), config: () => gw.config, logs: fixture.token.runtime.logs, scanMs: 50 });
  delivery.start();
  t.teardown(() => delivery.stop());

  const sent = await swaks({ port, to: 'jane@example.org', extra: ['--header', 'Subject: whole way'] });
  t.equal(sent.code, 0, 'swaks got its 250');
  const mid = Number(/250 .*queued as (\d+)/.exec(sent.output)?.[1]);
  t.ok(mid > 0, `the gateway answered 250 with MID ${mid}`);
  const [got] = await hop.waitFor(1);
  t.match(got?.data, /^Authentication-Results: mail\.example\.com;\r\n\tauth=none\r\nReceived: from client\.example\.com/, "our header above the gateway's Received");
  await until('the delivery is logged', () => new RegExp(`Message finished MID ${mid} done`).test(gw.mailLog()));

  const lines = await findEvents(join(fixture.token.root, 'logs', 'mail_logs'), 'mail_logs', { mid });
  const text = lines.join('\n');
  t.match(text, new RegExp(`Start MID ${mid} ICID \\d+`), "the gateway's lines");
  t.match(text, new RegExp(`MID ${mid} ICID \\d+ RID 0 To: <jane@example\\.org>`));
  t.match(text, new RegExp(`MID ${mid} Subject "whole way"`), 'the subject, logged at pick-up');
  t.match(text, new RegExp(`Message done DCID \\d+ MID ${mid} to RID \\[0\\]`), 'the delivery');
  t.match(text, /ICID \d+ close/, 'the connection lines');
  t.match(text, /New SMTP DCID \d+ address 127\.0\.0\.1/);
  t.same((await findEvents(join(fixture.token.root, 'logs', 'mail_logs'), 'mail_logs', { subject: 'whole way' })).length, lines.length, 'found by subject too');
});

t.test('the queued envelope records what the gateway decided: sender group, policy, signing, authserv-id', async (t) => {
  const port = await freePort();
  await startGateway(t, fixture, { listeners: listenerConfig(port, { acceptedDomains: ['example.org'] }) });
  const sent = await swaks({ port, to: 'jane@example.org' });
  const mid = Number(/250 .*queued as (\d+)/.exec(sent.output)?.[1]);
  const store = new QueueStore(join(fixture.token.root, 'spool'));
  const queued = await store.read(store.find(mid)!, mid);
  t.match(queued.envelope.reception, { senderGroup: String, policy: String, dkimSigning: false, authservId: 'mail.example.com' });
});
