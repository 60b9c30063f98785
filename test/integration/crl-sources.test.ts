// CRL sources: downloads over real http/https servers on 127.0.0.1 (file: URLs are
// refused: test/integration/fetch-security.test.ts), failover, limits, progress, schedules, status, restarts and expiry warnings.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { CrlService, type CrlSource } from '../../src/mail/crl/crl-service.js';
import { cronExpression } from '../../src/mail/crl/schedule.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import type { ApplianceConfigInput } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { openRuntime } from '../../src/os/runtime.js';
import { tempState } from '../helpers/state.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

type SourceInput = Partial<CrlSource> & Pick<CrlSource, 'name' | 'primaryUrl'>;

async function appliance(t: Test, trusted: TestCa[], sources: SourceInput[], root = tempState(t, 'appliance-crl-')) {
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const input: ApplianceConfigInput = {
    ...factoryConfig('mail.example.com'),
    certificates: { trustStore: trusted.map((ca, i) => ({ name: `ca${i}`, pem: ca.pem })) },
    crl: { enabled: true, sources: sources.map((s) => ({ fileType: 'asn1', schedule: { kind: 'daily', time: '03:00' }, ...s })) },
  };
  const config = parseConfig(input);
  const start = (fetchWhenMissing = false) => {
    const service = new CrlService({ config, stateDir: runtime.paths.crl, alerts: runtime.alerts, logs: runtime.logs, fetchWhenMissing });
    service.start();
    t.teardown(() => service.stop());
    return service;
  };
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  return {
    root,
    start,
    crlLog: () => read(join(root, 'logs', 'crl_logs', 'crl_logs.current')),
    systemLog: () => read(join(root, 'logs', 'system_logs', 'system_logs.current')),
  };
}

/** A real HTTP(S) server on 127.0.0.1; `stop` closes it and its connections. */
async function server(t: Test, handler: http.RequestListener, tls?: { key: string; cert: string }) {
  const instance = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => instance.listen(0, '127.0.0.1', resolve));
  const { port } = instance.address() as AddressInfo;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    instance.closeAllConnections();
    instance.close();
  };
  t.teardown(stop);
  return { url: (path: string) => `${tls ? 'https' : 'http'}://127.0.0.1:${port}${path}`, stop };
}

function serveBody(body: () => Buffer): http.RequestListener {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body().length });
    response.end(body());
  };
}

function newCa(t: Test, commonName = 'DoD Test Root CA 3'): TestCa {
  return new TestCa({ dir: join(tempState(t, 'test-ca-'), 'ca'), commonName, organization: 'U.S. Government' });
}

t.test('the secondary URL is used when the primary is stopped', async (t) => {
  const ca = newCa(t);
  const alice = ca.issue({ commonName: 'alice' });
  const bob = ca.issue({ commonName: 'bob' });
  ca.revoke(alice, 'keyCompromise');
  let crl = ca.gencrl();
  const primary = await server(
    t,
    serveBody(() => crl),
  );
  const secondary = await server(
    t,
    serveBody(() => crl),
  );
  const { start, crlLog, root } = await appliance(t, [ca], [{ name: 'dod', primaryUrl: primary.url('/crl/root3.crl'), secondaryUrl: secondary.url('/mirror/root3.crl') }]);
  const service = start();
  t.match(await service.fetchNow('dod'), { urlUsed: primary.url('/crl/root3.crl'), entries: 1 });

  primary.stop();
  ca.revoke(bob, 'affiliationChanged');
  crl = ca.gencrl();
  const status = await service.fetchNow('dod');
  t.match(status, { urlUsed: secondary.url('/mirror/root3.crl'), entries: 2, crlNumber: '2', lastError: undefined });
  t.match(service.check(bob.der), { status: 'revoked', reason: 'affiliationChanged' }, 'the new CRL from the secondary is in use');
  t.match(crlLog(), new RegExp(`Warning: CRL source dod: ${primary.url('/crl/root3.crl')} failed: connection refused`));
  t.match(crlLog(), new RegExp(`Info: CRL source dod: accepted the CRL from ${secondary.url('/mirror/root3.crl')}`));
  const saved = JSON.parse(readFileSync(join(root, 'crl', 'status', 'dod.json'), 'utf8'));
  t.match(
    saved,
    { name: 'dod', urlUsed: secondary.url('/mirror/root3.crl'), entries: 2, crlNumber: '2', issuer: 'CN=DoD Test Root CA 3,O=U.S. Government' },
    'the status is on disk',
  );
  t.ok(saved.lastAttempt && saved.lastSuccess && saved.thisUpdate && saved.nextUpdate);

  secondary.stop();
  const down = await service.fetchNow('dod');
  t.match(down.lastError, /127\.0\.0\.1:\d+\/crl\/root3\.crl: connection refused; http:\/\/127\.0\.0\.1:\d+\/mirror\/root3\.crl: connection refused/);
  t.match(service.check(bob.der), { status: 'revoked' }, 'with both down, the last good CRL stays');
});

t.test('downloads are bounded in size and in time, and HTTP errors are reported', async (t) => {
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'keyCompromise');
  const good = ca.gencrl();
  const large = ca.writeCrl({ count: 200, crlNumber: 100 });
  const web = await server(t, (request, response) => {
    if (request.url === '/good.crl') return serveBody(() => good)(request, response);
    if (request.url === '/large.crl') return serveBody(() => large)(request, response);
    if (request.url === '/large-chunked.crl') {
      response.writeHead(200);
      for (let at = 0; at < large.length; at += 512) response.write(large.subarray(at, at + 512));
      return response.end();
    }
    if (request.url === '/stalls.crl') {
      response.writeHead(200, { 'content-length': good.length });
      response.write(good.subarray(0, 100)); // and never the rest
      return;
    }
    if (request.url === '/hangs.crl') return; // never answers
    response.writeHead(404, 'Not Found');
    response.end();
  });
  const limited = { maxBytes: 1024, timeoutSeconds: 1 };
  const { start } = await appliance(
    t,
    [ca],
    [
      { name: 'good', primaryUrl: web.url('/good.crl') },
      { name: 'declaredLarge', primaryUrl: web.url('/large.crl'), ...limited },
      { name: 'chunkedLarge', primaryUrl: web.url('/large-chunked.crl'), ...limited },
      { name: 'stalls', primaryUrl: web.url('/stalls.crl'), ...limited },
      { name: 'hangs', primaryUrl: web.url('/hangs.crl'), ...limited },
      { name: 'missing', primaryUrl: web.url('/nothing.crl') },
    ],
  );
  const service = start();
  t.match(await service.fetchNow('good'), { entries: 1, lastError: undefined });
  t.ok(large.length > 1024);
  t.match((await service.fetchNow('declaredLarge')).lastError, `: the body is ${large.length} bytes, above the limit of 1024 bytes`);
  t.match((await service.fetchNow('chunkedLarge')).lastError, ': the body exceeded the limit of 1024 bytes');
  let started = Date.now();
  t.match((await service.fetchNow('stalls')).lastError, ': timed out after 1 s with 100 bytes received');
  t.ok(Date.now() - started < 6000, 'the timeout ends the download');
  started = Date.now();
  t.match((await service.fetchNow('hangs')).lastError, ': timed out after 1 s with 0 bytes received');
  t.ok(Date.now() - started < 6000);
  t.match((await service.fetchNow('missing')).lastError, ': HTTP status 404 Not Found');
  t.match(service.check(user.der), { status: 'revoked' }, 'the good CRL is untouched by the failures');
});

t.test('https is verified against the trust store', async (t) => {
  const ca = newCa(t);
  const rogue = newCa(t, 'Rogue Web CA');
  const serverExtensions = ['basicConstraints = CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth', 'subjectAltName = IP:127.0.0.1'];
  const trustedWeb = ca.issue({ commonName: '127.0.0.1', extensions: [...serverExtensions] });
  const rogueWeb = rogue.issue({ commonName: '127.0.0.1', extensions: [...serverExtensions] });
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'cessationOfOperation');
  const crl = ca.gencrl();
  const trustedServer = await server(
    t,
    serveBody(() => crl),
    { key: trustedWeb.keyPem, cert: trustedWeb.pem },
  );
  const rogueServer = await server(
    t,
    serveBody(() => crl),
    { key: rogueWeb.keyPem, cert: rogueWeb.pem },
  );
  const { start } = await appliance(
    t,
    [ca],
    [
      { name: 'https', primaryUrl: trustedServer.url('/root3.crl') },
      { name: 'rogue', primaryUrl: rogueServer.url('/root3.crl') },
    ],
  );
  const service = start();
  t.match(await service.fetchNow('https'), { entries: 1, lastError: undefined }, 'a server certificate from a trust-store CA is accepted');
  t.match((await service.fetchNow('rogue')).lastError, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed|local issuer/i, 'an unknown server CA is refused');
  await t.rejects(service.fetchNow('nosuch'), /no CRL source named "nosuch"/);
});

t.test('a long download shows its progress in the status and the CRL log', async (t) => {
  const ca = newCa(t);
  const held = ca.issue({ commonName: 'held' });
  const small = ca.writeCrl({ entries: [{ serial: held.serial, reason: 6 }], crlNumber: 4 });
  const crl = ca.writeCrl({ count: 20_000, syntheticReason: 1, crlNumber: 5 });
  let requests = 0;
  const web = await server(t, (request, response) => {
    if (requests++ === 0) return serveBody(() => small)(request, response);
    response.writeHead(200, { 'content-length': crl.length });
    const step = Math.ceil(crl.length / 8);
    let at = 0;
    const timer = setInterval(() => {
      response.write(crl.subarray(at, at + step));
      at += step;
      if (at >= crl.length) {
        clearInterval(timer);
        response.end();
      }
    }, 250);
    response.on('close', () => clearInterval(timer));
  });
  const { start, crlLog } = await appliance(t, [ca], [{ name: 'big', primaryUrl: web.url('/big.crl'), timeoutSeconds: 20 }]);
  const service = start();
  await service.fetchNow('big');
  const download = service.fetchNow('big');
  const deadline = Date.now() + 10_000;
  while (!service.status()[0]!.inProgress?.received && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.match(service.check(held.der), { status: 'revoked', reason: 'certificateHold' }, 'during the download, checks use the CRL held');
  const during = service.status()[0]!;
  t.match(during.inProgress, { url: web.url('/big.crl'), total: crl.length }, 'the status shows the download running');
  t.ok(during.inProgress!.received > 0 && during.inProgress!.received < crl.length, 'with the bytes received so far');
  t.match(await download, { entries: 20_000, lastError: undefined });
  t.equal(service.status()[0]!.inProgress, undefined, 'no progress once done');
  t.match(service.check(held.der), { status: 'good' }, 'the new CRL replaced the old one whole');
  const lines = crlLog().match(new RegExp(`received \\d+ of ${crl.length} bytes`, 'g')) ?? [];
  t.ok(lines.length >= 1, `progress lines in the CRL log (${lines.length})`);
  t.match(crlLog(), new RegExp(`received ${crl.length} bytes in \\d+\\.\\d s`));
});

t.test('accepted CRLs and the status survive a restart; a damaged saved CRL is not loaded', async (t) => {
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'certificateHold');
  const crl = ca.gencrl();
  const web = await server(
    t,
    serveBody(() => crl),
  );
  const sources = [{ name: 'dod', primaryUrl: web.url('/root3.crl') }];
  const first = await appliance(t, [ca], sources);
  const before = first.start();
  const fetched = await before.fetchNow('dod');
  before.stop();
  web.stop();

  const again = await appliance(t, [ca], sources, first.root);
  const after = again.start(true);
  t.match(after.check(user.der), { status: 'revoked', reason: 'certificateHold' }, 'the saved CRL answers at once, with the server down');
  t.match(
    after.status()[0],
    { lastAttempt: fetched.lastAttempt, lastSuccess: fetched.lastSuccess, entries: 1, crlNumber: '1', urlUsed: web.url('/root3.crl') },
    'the status is back, and a held CRL is not downloaded again at start',
  );
  t.match(again.crlLog(), /Info: CRL source dod: loaded the saved CRL of CN=DoD Test Root CA 3,O=U.S. Government, 1 entries/);
  after.stop();

  const saved = join(first.root, 'crl', 'crls', 'dod.crl');
  const damaged = readFileSync(saved);
  damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 0x40;
  writeFileSync(saved, damaged);
  const third = await appliance(t, [ca], sources, first.root);
  const service = third.start();
  t.match(service.check(user.der), { status: 'no-current-crl', accept: false });
  t.match(third.crlLog(), /Warning: CRL source dod: the saved CRL \S+dod\.crl was not loaded: its signature does not verify/);
});

t.test('an enabled source with no CRL held is downloaded at start, without waiting for its schedule', async (t) => {
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'superseded');
  const crl = ca.gencrl();
  const web = await server(
    t,
    serveBody(() => crl),
  );
  const { start } = await appliance(
    t,
    [ca],
    [
      { name: 'weekly', primaryUrl: web.url('/root3.crl'), schedule: { kind: 'weekly', day: 'sun', time: '03:00' } },
      { name: 'off', primaryUrl: web.url('/root3.crl'), enabled: false },
    ],
  );
  const service = start(true);
  const deadline = Date.now() + 10_000;
  while (!service.status()[0]!.lastSuccess && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(service.status()[0], { entries: 1, lastError: undefined });
  t.match(service.check(user.der), { status: 'revoked', reason: 'superseded' });
  t.equal(service.status()[1]!.lastAttempt, undefined, 'a disabled source is left alone');
  const nextRun = new Date(service.status()[0]!.nextRun!);
  t.same([nextRun.getUTCDay(), nextRun.getUTCHours(), nextRun.getUTCMinutes()], [0, 3, 0], 'the next run is on Sunday at 03:00 (system timezone UTC)');
  t.ok(nextRun.getTime() > Date.now() && nextRun.getTime() <= Date.now() + 7 * 86400_000);
  t.equal(service.status()[1]!.nextRun, undefined);
});

t.test('schedules become cron expressions, and node-cron runs the download', async (t) => {
  t.equal(cronExpression({ kind: 'hourly', minute: 15 }), '15 * * * *');
  t.equal(cronExpression({ kind: 'daily', time: '03:30' }), '30 3 * * *');
  t.equal(cronExpression({ kind: 'weekly', day: 'sun', time: '23:05' }), '5 23 * * sun');
  t.equal(cronExpression({ kind: 'cron', expression: '0 */4 * * *' }), '0 */4 * * *');
  const ca = newCa(t);
  const crl = ca.gencrl();
  let requests = 0;
  const web = await server(t, (request, response) => {
    requests++;
    serveBody(() => crl)(request, response);
  });
  const { start, crlLog } = await appliance(
    t,
    [ca],
    [
      { name: 'everySecond', primaryUrl: web.url('/root3.crl'), schedule: { kind: 'cron', expression: '* * * * * *' } },
      { name: 'disabled', primaryUrl: web.url('/root3.crl'), schedule: { kind: 'cron', expression: '* * * * * *' }, enabled: false },
      { name: 'broken', primaryUrl: web.url('/root3.crl'), schedule: { kind: 'cron', expression: '99 * * * * *' } },
    ],
  );
  const service = start();
  const deadline = Date.now() + 10_000;
  while (!service.status()[0]!.lastSuccess && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  service.stop();
  t.ok(service.status()[0]!.lastSuccess, 'the scheduled download ran');
  t.equal(service.status()[1]!.lastAttempt, undefined, 'a disabled source is not scheduled');
  t.equal(service.status()[2]!.lastAttempt, undefined);
  t.ok(requests >= 1);
  t.match(crlLog(), /Critical: CRL source broken: not scheduled: invalid schedule "99 \* \* \* \* \*"/);
});

t.test('a CRL near expiry that cannot be refreshed raises a warning before it expires', async (t) => {
  const ca = newCa(t);
  const shortCrl = ca.gencrl({ hours: 2 });
  const other = newCa(t, 'Long CA');
  const longCrl = other.gencrl({ days: 30 });
  const web = await server(t, (request, response) => serveBody(() => (request.url === '/short.crl' ? shortCrl : longCrl))(request, response));
  const { start, systemLog } = await appliance(
    t,
    [ca, other],
    [
      { name: 'short', primaryUrl: web.url('/short.crl') },
      { name: 'long', primaryUrl: web.url('/long.crl') },
    ],
  );
  const service = start();
  await service.fetchNow('short');
  await service.fetchNow('long');
  t.notMatch(systemLog(), /could not be refreshed/, 'no warning while downloads succeed');
  web.stop();
  await service.fetchNow('short');
  await service.fetchNow('long');
  t.match(
    systemLog(),
    /Alert \(warning, crl\): CRL source short: the CRL of CN=DoD Test Root CA 3,O=U.S. Government expires at \S+ and could not be refreshed - \S+short\.crl: connection refused/,
  );
  t.notMatch(systemLog(), /CRL source long: the CRL of .* could not be refreshed/, 'a CRL far from expiry raises only the failed-download alert');
  await service.fetchNow('short');
  t.equal(systemLog().match(/CRL source short: the CRL of .* could not be refreshed/g)?.length, 1, 'the expiry warning is raised once per CRL');
});
