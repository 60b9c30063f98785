// Which downloaded CRLs are accepted, and what a refused one leaves behind:
// every rule, with CAs made by the real openssl CLI and CRLs served over HTTP on 127.0.0.1.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { CrlService } from '../../src/mail/crl/crl-service.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { openRuntime } from '../../src/os/runtime.js';
import { fileServer } from '../helpers/file-server.js';
import { tempState } from '../helpers/state.js';
import { TestCa, type TestKeyType } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

interface Setup {
  trusted: TestCa[];
  /** Trust-store entries added as they are, after the CAs. */
  extraTrust?: { name: string; pem: string }[];
  fileType?: 'asn1' | 'pem';
  now?: () => Date;
}

/** A CRL service on a fresh state folder with one source, "dod", reading crl file `served` (replace it to serve another CRL). */
async function crlService(t: Test, setup: Setup) {
  const files = await fileServer(t);
  const root = tempState(t, 'appliance-crl-');
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const served = join(root, 'served.crl');
  const config = parseConfig({
    ...factoryConfig('mail.example.com'),
    certificates: { trustStore: [...setup.trusted.map((ca, i) => ({ name: `ca${i}`, pem: ca.pem })), ...(setup.extraTrust ?? [])] },
    crl: {
      enabled: true,
      sources: [{ name: 'dod', fileType: setup.fileType ?? 'asn1', primaryUrl: files.url(served), schedule: { kind: 'daily', time: '03:00' } }],
    },
  });
  const options = { config, stateDir: runtime.paths.crl, alerts: runtime.alerts, logs: runtime.logs, fetchWhenMissing: false, ...(setup.now ? { now: setup.now } : {}) };
  const service = new CrlService(options);
  service.start();
  t.teardown(() => service.stop());
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  return {
    service,
    serve: (crl: Buffer) => writeFileSync(served, crl),
    fetch: () => service.fetchNow('dod'),
    crlLog: () => read(join(root, 'logs', 'crl_logs', 'crl_logs.current')),
    systemLog: () => read(join(root, 'logs', 'system_logs', 'system_logs.current')),
  };
}

function caIn(t: Test, options: { commonName?: string; key?: TestKeyType; crlSign?: boolean } = {}): TestCa {
  return new TestCa({ dir: join(tempState(t, 'test-ca-'), 'ca'), commonName: options.commonName ?? 'DoD Test Root CA 3', organization: 'U.S. Government', ...options });
}

t.test('a good CRL is accepted for each signature kind: ECDSA, RSA PKCS#1 v1.5, RSA-PSS', async (t) => {
  for (const key of ['ec-p384', 'rsa-2048', 'rsa-pss-2048'] as const) {
    const ca = caIn(t, { key, commonName: `Root ${key}` });
    const revoked = ca.issue({ commonName: 'revoked.user' });
    const good = ca.issue({ commonName: 'good.user' });
    ca.revoke(revoked, 'keyCompromise');
    const { service, serve, fetch, crlLog } = await crlService(t, { trusted: [ca] });
    serve(ca.gencrl());
    const status = await fetch();
    t.match(status, { name: 'dod', entries: 1, crlNumber: '1', issuer: `CN=Root ${key},O=U.S. Government`, lastError: undefined }, `${key}: accepted`);
    t.match(service.check(revoked.der), { status: 'revoked', reason: 'keyCompromise', accept: false }, `${key}: the revoked certificate is refused`);
    t.match(service.check(good.der), { status: 'good', accept: true }, `${key}: the good certificate passes`);
    t.match(crlLog(), new RegExp(`Info: CRL source dod: accepted the CRL from http://\\S+: issuer CN=Root ${key},O=U.S. Government, CRL number 1, 1 entries`));
  }
});

t.test('every refused CRL keeps the last good one, says why in the status, the log and an alert', async (t) => {
  const ca = caIn(t);
  const alice = ca.issue({ commonName: 'alice' });
  ca.revoke(alice, 'keyCompromise');
  const good = ca.gencrl();
  const { service, serve, fetch, crlLog, systemLog } = await crlService(t, { trusted: [ca] });
  serve(good);
  const accepted = await fetch();
  const lastSuccess = accepted.lastSuccess;
  t.ok(lastSuccess);

  const stranger = caIn(t, { commonName: 'Rogue CA' });
  const twin = caIn(t); // same name as the trusted CA, different key
  const tampered = Buffer.from(good);
  tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0x01;
  const listedSerial = good.indexOf(Buffer.from(alice.serial, 'hex'));
  const forgedTbs = Buffer.from(good);
  forgedTbs[listedSerial + 3] = forgedTbs[listedSerial + 3]! ^ 0x01;
  const cases: [string, Buffer, RegExp][] = [
    ['tampered signature', tampered, /CRL refused: its signature does not verify with the trust store certificate "ca0" \(CN=DoD Test Root CA 3,O=U.S. Government\)/],
    ['a revoked serial changed after signing', forgedTbs, /its signature does not verify/],
    ['wrong issuer', stranger.gencrl(), /CRL refused: its issuer "CN=Rogue CA,O=U.S. Government" is not in the trust store/],
    ['same issuer name, another key', twin.gencrl(), /is in the trust store, but not with the key id [0-9a-f]{40} the CRL names/],
    ['thisUpdate in the future', ca.writeCrl({ thisUpdate: new Date(Date.now() + 3600_000), crlNumber: 50 }), /CRL refused: its thisUpdate \S+ is in the future/],
    [
      'expired',
      ca.writeCrl({ thisUpdate: new Date(Date.now() - 10 * 86400_000), nextUpdate: new Date(Date.now() - 86400_000), crlNumber: 50 }),
      /CRL refused: it expired: nextUpdate \S+ has passed/,
    ],
    ['truncated', good.subarray(0, good.length - 20), /truncated/],
    ['an empty body', Buffer.alloc(0), /the download is empty/],
    ['garbage', Buffer.from('<html><body>503 Service Unavailable</body></html>'), /the body is not a DER CRL \(49 bytes that do not start with a SEQUENCE\)$/],
    ['a delta CRL', ca.writeCrl({ deltaOf: 1, crlNumber: 60 }), /it is a delta CRL \(base CRL number 1\); delta CRLs are not supported/],
  ];
  for (const [what, body, reason] of cases) {
    serve(body);
    const status = await fetch();
    t.match(status.lastError, reason, `${what}: refused with the reason`);
    t.equal(status.lastSuccess, lastSuccess, `${what}: last success unchanged`);
    t.match(service.check(alice.der), { status: 'revoked', reason: 'keyCompromise' }, `${what}: the last good CRL still answers`);
  }
  t.match(crlLog(), /Warning: CRL source dod: http:\S+ failed: CRL refused: its signature does not verify/);
  t.match(crlLog(), /Warning: CRL source dod: no new CRL; the last good CRL \(thisUpdate \S+\) stays in use/);
  t.match(
    systemLog(),
    /Alert \(warning, crl\): CRL source dod: the CRL was not updated; the last good CRL \(thisUpdate \S+\) stays in use - http:\S+: CRL refused: its issuer "CN=Rogue CA/,
  );
  t.equal(systemLog().match(/Alert \(warning, crl\)/g)?.length, cases.length, 'one alert per refused download');
});

t.test('a CA without cRLSign cannot sign CRLs, even when trusted', async (t) => {
  const ca = caIn(t, { crlSign: false });
  const { serve, fetch, service } = await crlService(t, { trusted: [ca] });
  serve(ca.gencrl());
  t.match((await fetch()).lastError, /the trust store certificate "ca0" \(CN=DoD Test Root CA 3,O=U.S. Government\) does not have the cRLSign key usage/);
  t.match(service.check(ca.issue({ commonName: 'x' }).der), { status: 'no-current-crl', accept: false });
});

t.test('an older CRL number is refused; the same number again is accepted', async (t) => {
  const ca = caIn(t);
  const bob = ca.issue({ commonName: 'bob' });
  const first = ca.gencrl();
  ca.revoke(bob, 'certificateHold');
  const second = ca.gencrl();
  const { serve, fetch, service } = await crlService(t, { trusted: [ca] });
  serve(second);
  t.match(await fetch(), { crlNumber: '2', entries: 1 });
  serve(first);
  t.match((await fetch()).lastError, /CRL refused: its CRL number 1 is older than the held CRL's 2/);
  t.match(service.check(bob.der), { status: 'revoked', reason: 'certificateHold' }, 'the newer CRL stays');
  serve(second);
  t.match(await fetch(), { crlNumber: '2', lastError: undefined }, 'the same CRL again is not older');
});

t.test('a PEM source takes PEM, and refuses DER served in its place', async (t) => {
  const ca = caIn(t);
  ca.revoke(ca.issue({ commonName: 'carol' }), 'superseded');
  const { serve, fetch } = await crlService(t, { trusted: [ca], fileType: 'pem' });
  serve(ca.gencrl({ format: 'pem' }));
  t.match(await fetch(), { entries: 1, crlNumber: '1', lastError: undefined });
  serve(ca.gencrl({ format: 'der' }));
  t.match(await fetch(), { crlNumber: '1', lastError: /the source is declared PEM but served DER/ });
});

t.test('a CRL that expires while held makes checks report no current CRL, with a critical alert', async (t) => {
  const ca = caIn(t);
  const user = ca.issue({ commonName: 'dave' });
  let hoursAhead = 0;
  const { serve, fetch, service, systemLog } = await crlService(t, { trusted: [ca], now: () => new Date(Date.now() + hoursAhead * 3600_000) });
  serve(ca.gencrl({ hours: 2 }));
  await fetch();
  t.match(service.check(user.der), { status: 'good', accept: true });
  hoursAhead = 3;
  t.match(service.check(user.der), { status: 'no-current-crl', accept: false, detail: /the CRL for CN=DoD Test Root CA 3,O=U.S. Government expired at / });
  service.checkExpiry();
  t.match(
    systemLog(),
    /Alert \(critical, crl\): CRL source dod: the CRL of CN=DoD Test Root CA 3,O=U.S. Government expired at \S+ - Client certificates from .* are refused until a current CRL is downloaded/,
  );
});

t.test('an unreadable trust store certificate is reported in the CRL log and skipped', async (t) => {
  const ca = caIn(t);
  const user = ca.issue({ commonName: 'erin' });
  ca.revoke(user, 'superseded');
  const broken = { name: 'broken', pem: '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' };
  const { serve, fetch, service, crlLog } = await crlService(t, { trusted: [ca], extraTrust: [broken] });
  t.match(crlLog(), /Critical: trust store certificate "broken" cannot be read and cannot vouch for CRLs: /);
  serve(ca.gencrl());
  t.match(await fetch(), { entries: 1, lastError: undefined }, 'the readable CAs still work');
  t.match(service.check(user.der), { status: 'revoked', reason: 'superseded' });
});
