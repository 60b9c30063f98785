// Issue 15 item 1: every download follows nothing but http(s). A hostile server on
// 127.0.0.1 answers the real CRL download path (CrlService with the real runtime:
// log subscriptions, status files, the alert outbox), the gateway service driven from
// the console, and the console's `upgrade URL` command, with redirects to file:
// (a secret file, /dev/zero), ftp:, data:, gopher:, loops and long chains, a body
// that is a secret-looking string, an endless body, and a server that never finishes
// the TLS handshake. Each is refused with a clear message, the last good CRL stays,
// no temporary file is left, and the secret's bytes appear nowhere. Last, fetchSmall
// (the entry point OCSP will use): GET, POST with a content type, the same rules.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CrlService, type CrlSource } from '../../src/mail/crl/crl-service.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import type { ApplianceConfigInput } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { verifyConfig } from '../../src/os/config/verify.js';
import { openRuntime } from '../../src/os/runtime.js';
import { consoleSession } from '../helpers/console.js';
import { blankToken } from '../helpers/softhsm.js';
import { compiled, tempState } from '../helpers/state.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

/** A secret-looking string, as a PIN file or /etc/shadow would hold one. */
const secret = `PIN:${randomBytes(16).toString('hex')}:root:$6$`;

/** Every form in which the secret could leak: whole, its first 16 bytes (what the old message quoted), as hex, a middle part. */
function leaksIn(text: string): string[] {
  const forms = [secret, secret.slice(0, 16), Buffer.from(secret.slice(0, 16)).toString('hex'), secret.slice(8, 24)];
  return forms.filter((form) => text.includes(form));
}

/** Every file under `dir`, read as text (a missing folder reads as nothing). */
function everything(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'))
    .join('\n');
}

function filesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/**
 * The hostile server. `/s/NAME` serves the good CRL until `attack()` is called, then
 * does what NAME says; `/s/good.crl` always serves the good CRL.
 */
async function hostileServer(t: Test, secretFile: string, good: () => Buffer) {
  let attacking = false;
  const endless = { sent: 0, closed: false };
  let port = 0;
  const redirect = (response: http.ServerResponse, location: string, status = 302) => response.writeHead(status, { location }).end();
  const server = http.createServer((request, response) => {
    const path = request.url ?? '';
    const name = /^\/s\/([\w.-]+)/.exec(path)?.[1];
    if (name === 'good.crl' || (name && !attacking && !name.startsWith('loop-b'))) {
      const body = good();
      return response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body.length }).end(body);
    }
    const chain = /^\/chain\/(\d+)$/.exec(path);
    if (chain) return redirect(response, `/chain/${Number(chain[1]) + 1}`);
    switch (name) {
      case 'secret':
        return redirect(response, `file://${secretFile}`);
      case 'zero':
        return redirect(response, 'file:///dev/zero');
      case 'ftp':
        return redirect(response, `ftp://127.0.0.1:${port}/root3.crl`, 301);
      case 'data':
        // Even a valid CRL is refused when it comes from data:.
        return redirect(response, `data:application/pkix-crl;base64,${good().toString('base64')}`);
      case 'gopher':
        return redirect(response, `gopher://127.0.0.1:${port}/_INFO`);
      case 'relative':
        return redirect(response, 'good.crl', 307);
      case 'loop':
        return redirect(response, '/s/loop-b');
      case 'loop-b':
        return redirect(response, '/s/loop');
      case 'chain':
        return redirect(response, '/chain/1');
      case 'secretbody':
        return response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(secret) }).end(secret);
      case 'endless': {
        response.writeHead(200, { 'content-type': 'application/pkix-crl' });
        const chunk = Buffer.alloc(64 * 1024, `${secret}\n`);
        const pump = () => {
          while (!endless.closed && response.write(chunk)) endless.sent += chunk.length;
        };
        response.on('drain', pump);
        response.on('close', () => {
          endless.closed = true;
        });
        return pump();
      }
      default:
        return response.writeHead(404, 'Not Found').end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    attack: () => {
      attacking = true;
    },
    endless,
  };
}

function secretFileIn(root: string): string {
  const dir = join(root, 'secret-hsm');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'crypto-user.pin');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

type SourceInput = Partial<CrlSource> & Pick<CrlSource, 'name' | 'primaryUrl'>;

/** The real CRL service on the real runtime, with an alert recipient so that alerts reach the outbox. */
async function crlAppliance(t: Test, ca: TestCa, sources: SourceInput[]) {
  const root = tempState(t, 'appliance-fetch-');
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const input: ApplianceConfigInput = {
    ...factoryConfig('mail.example.com'),
    alerts: { recipients: [{ address: 'soc@example.com' }] },
    certificates: { trustStore: [{ name: 'ca0', pem: ca.pem }] },
    crl: { enabled: true, sources: sources.map((s) => ({ fileType: 'asn1', schedule: { kind: 'daily', time: '03:00' }, ...s })) },
  };
  const config = parseConfig(input);
  runtime.alerts.reconfigure(config);
  const service = new CrlService({ config, stateDir: runtime.paths.crl, alerts: runtime.alerts, logs: runtime.logs, fetchWhenMissing: false });
  service.start();
  t.teardown(() => service.stop());
  return {
    root,
    service,
    crlLog: () => everything(join(root, 'logs', 'crl_logs')),
    statusFiles: () => everything(join(root, 'crl', 'status')),
    outbox: () => everything(join(root, 'alerts', 'outbox')),
    systemLog: () => everything(join(root, 'logs', 'system_logs')),
    savedCrl: (name: string) => readFileSync(join(root, 'crl', 'crls', `${name}.crl`)),
    downloads: () => filesIn(join(root, 'crl', 'downloads')),
  };
}

function newCa(t: Test): TestCa {
  return new TestCa({ dir: join(tempState(t, 'test-ca-'), 'ca'), commonName: 'DoD Test Root CA 3', organization: 'U.S. Government' });
}

t.test('CRL downloads: redirects leave http(s) for nothing, the last good CRL stays, and the secret leaks nowhere', async (t) => {
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'keyCompromise');
  const good = ca.gencrl();
  const scratch = tempState(t, 'secret-');
  const secretFile = secretFileIn(scratch);
  const web = await hostileServer(t, secretFile, () => good);
  const attacks: [string, RegExp][] = [
    ['secret', new RegExp(`refused the redirect to file://${secretFile.replace(/[.]/g, '\\.')}: only http and https URLs are fetched, not file:`)],
    ['zero', /refused the redirect to file:\/\/\/dev\/zero: only http and https URLs are fetched, not file:/],
    ['ftp', /refused the redirect to ftp:\/\/127\.0\.0\.1:\d+\/root3\.crl: only http and https URLs are fetched, not ftp:/],
    ['data', /refused the redirect to data:application\/pkix-crl;base64,\S+: only http and https URLs are fetched, not data:/],
    ['gopher', /refused the redirect to gopher:\/\/127\.0\.0\.1:\d+\/\S+: only http and https URLs are fetched, not gopher:/],
    ['loop', /redirect loop: http:\/\/127\.0\.0\.1:\d+\/s\/loop was already fetched/],
    ['chain', /more than 5 redirects \(the last one to http:\/\/127\.0\.0\.1:\d+\/chain\/6\)/],
    ['secretbody', new RegExp(`the body is not a DER CRL \\(${Buffer.byteLength(secret)} bytes that do not start with a SEQUENCE\\)`)],
    ['endless', /the body exceeded the limit of 1048576 bytes/],
  ];
  const names = [...attacks.map(([name]) => name), 'relative'];
  const a = await crlAppliance(
    t,
    ca,
    names.map((name) => ({ name, primaryUrl: web.url(`/s/${name}`), maxBytes: 1024 * 1024, timeoutSeconds: 20 })),
  );
  for (const name of names) t.match(await a.service.fetchNow(name), { entries: 1, lastError: undefined }, `${name}: a good CRL first`);
  const saved = new Map(names.map((name) => [name, a.savedCrl(name)]));

  web.attack();
  for (const [name, reason] of attacks) {
    const started = Date.now();
    const status = await a.service.fetchNow(name);
    t.match(status.lastError, reason, `${name}: refused with a clear reason`);
    t.ok(Date.now() - started < 10_000, `${name}: refused at once (${Date.now() - started} ms)`);
    t.match(a.service.check(user.der), { status: 'revoked', reason: 'keyCompromise' }, `${name}: the last good CRL stays in use`);
    t.ok(a.savedCrl(name).equals(saved.get(name)!), `${name}: the saved CRL is untouched`);
    t.same(a.downloads(), [], `${name}: no temporary file is left`);
  }
  t.match(await a.service.fetchNow('relative'), { entries: 1, lastError: undefined }, 'a relative redirect that stays on http is followed');
  t.match(a.crlLog(), /Info: CRL source relative: http:\S+\/s\/relative: received \d+ bytes in \S+ s \(redirected to http:\S+\/s\/good\.crl\)/);

  t.ok(web.endless.closed, 'the endless body: the connection was closed');
  t.ok(web.endless.sent < 16 * 1024 * 1024, `the endless body: reading stopped at the limit (${web.endless.sent} bytes sent before the close)`);
  t.match(a.outbox(), /CRL source secret: the CRL was not updated/, 'the failures reached the mailed alerts');
  t.match(a.statusFiles(), /refused the redirect to file:/, 'and the status files');
  for (const [where, text] of [
    ['the CRL log', a.crlLog()],
    ['the CRL status files', a.statusFiles()],
    ['the alert outbox', a.outbox()],
    ['the system log', a.systemLog()],
  ] as const)
    t.same(leaksIn(text), [], `the secret appears nowhere in ${where}`);
});

t.test('connect and total timeouts end a download with a clear error', async (t) => {
  const ca = newCa(t);
  // Accepts the connection and never answers the TLS handshake.
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<net.Socket>();
  silent.on('connection', (s) => sockets.add(s));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const a = await crlAppliance(t, ca, [
    { name: 'handshake', primaryUrl: `https://127.0.0.1:${port}/root3.crl`, timeoutSeconds: 2 },
    { name: 'answer', primaryUrl: `http://127.0.0.1:${port}/root3.crl`, timeoutSeconds: 2 },
  ]);
  let started = Date.now();
  t.match((await a.service.fetchNow('handshake')).lastError, new RegExp(`could not connect to 127\\.0\\.0\\.1:${port} within 1 s`));
  t.ok(Date.now() - started < 5000, 'the connect timeout ends it');
  started = Date.now();
  t.match((await a.service.fetchNow('answer')).lastError, /timed out after 2 s with 0 bytes received/);
  t.ok(Date.now() - started < 6000, 'the total timeout ends it');
  t.same(a.downloads(), []);
});

t.test('a CRL source URL that is not http(s) is refused when the configuration is checked', async (t) => {
  const base = factoryConfig('mail.example.com');
  for (const url of [
    'file:///var/lib/appliance/hsm/crypto-user.pin',
    'ftp://crl.example.com/a.crl',
    'data:,x',
    'gopher://h/',
    'http://user:pw@crl.example.com/a.crl',
    'crl.example.com/a.crl',
  ]) {
    for (const field of ['primaryUrl', 'secondaryUrl'] as const) {
      const source = { name: 'dod', fileType: 'asn1' as const, primaryUrl: 'http://crl.example.com/a.crl', schedule: { kind: 'daily' as const, time: '03:00' }, [field]: url };
      t.throws(
        () => verifyConfig(parseConfig({ ...base, crl: { enabled: true, sources: [source] } }), 'commit refused'),
        new RegExp(`crl\\.sources\\.0\\.${field}: must be an http or https URL`),
        `${field} ${url}`,
      );
    }
  }
  t.doesNotThrow(() =>
    parseConfig({
      ...base,
      crl: {
        enabled: true,
        sources: [
          {
            name: 'dod',
            fileType: 'asn1',
            primaryUrl: 'https://crl.example.com/a.crl',
            secondaryUrl: 'http://mirror.example.com/a.crl',
            schedule: { kind: 'daily', time: '03:00' },
          },
        ],
      },
    }),
  );
});

t.test('a revision committed with a file: source before the rule still loads (its CRL stays in use; only a commit is refused)', async (t) => {
  const old = {
    ...factoryConfig('mail.example.com'),
    crl: { enabled: true, sources: [{ name: 'old', fileType: 'asn1', primaryUrl: 'file:///var/lib/crl/old.crl', schedule: { kind: 'daily', time: '03:00' } }] },
  };
  t.doesNotThrow(() => parseConfig(old), 'it loads');
  t.throws(() => verifyConfig(parseConfig(old), 'commit refused'), /crl\.sources\.0\.primaryUrl: must be an http or https URL/, 'it does not commit again');
});

t.test('through the console and the gateway service: refusals are explained, the secret is shown nowhere, file: is refused at commit', async (t) => {
  const token = await blankToken(t);
  const env = { ...token.env, APPLIANCE_USER: 'admin', LOG_LEVEL: 'warn' };
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'user' });
  ca.revoke(user, 'keyCompromise');
  const good = ca.gencrl();
  const secretFile = secretFileIn(token.root);
  const web = await hostileServer(t, secretFile, () => good);
  web.attack();
  mkdirSync(join(token.root, 'configuration'), { recursive: true });
  writeFileSync(join(token.root, 'configuration', 'dod-ca.pem'), ca.pem);
  const consoleRun = (lines: string[]) =>
    new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [compiled('fipsconsole/console.js')], { env });
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      child.on('exit', () => resolve(output));
      child.stdin.end(`${lines.join('\n')}\nexit\ny\n`);
    });
  const service: ChildProcess = spawn(process.execPath, [compiled('mail/gateway-service.js')], { env, stdio: 'ignore' });
  t.teardown(() => service.kill('SIGTERM'));
  const pid = join(token.root, 'run', 'gateway.pid');
  for (let i = 0; i < 200 && !existsSync(pid); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(existsSync(pid), 'the gateway service is running');

  const setup = await consoleRun([
    'certconfig trust new dod pem=@dod-ca.pem',
    'alertconfig recipient new soc@example.com',
    'crlconfig setup edit enabled=yes',
    `crlconfig source new pin fileType=asn1 primaryUrl=${web.url('/s/secret')} schedule=daily:02:00`,
    `crlconfig source new body fileType=asn1 primaryUrl=${web.url('/s/secretbody')} schedule=daily:02:00`,
    'commit hostile CRL sources',
  ]);
  t.match(setup, /Committed revision \d+/, setup);
  await new Promise((r) => setTimeout(r, 1500)); // the reload gives the gateway its sources
  const output = await consoleRun(['crlconfig fetch pin', 'crlconfig fetch body', 'crlconfig status']);
  t.match(
    output,
    new RegExp(`last error: ${web.url('/s/secret').replace(/[.]/g, '\\.')}: refused the redirect to file://\\S+crypto-user\\.pin: only http and https URLs are fetched, not file:`),
    output,
  );
  t.match(output, new RegExp(`last error: \\S+/s/secretbody: the body is not a DER CRL \\(${Buffer.byteLength(secret)} bytes that do not start with a SEQUENCE\\)`));
  t.match(output, /the download was refused, and source pin has no good CRL yet/);

  const refused = await consoleRun(['crlconfig source new local fileType=asn1 primaryUrl=file:///etc/shadow schedule=daily:02:00', 'commit a file source']);
  t.match(refused, /primaryUrl: must be an http or https URL: only http and https URLs are fetched, not file:/, refused);
  t.notMatch(refused, /Committed revision/, 'nothing is committed');

  for (const [where, text] of [
    ['the console output', setup + output + refused],
    ['the CRL log', everything(join(token.root, 'logs', 'crl_logs'))],
    ['the CRL status files', everything(join(token.root, 'crl', 'status'))],
    ['the alert outbox', everything(join(token.root, 'alerts', 'outbox'))],
    ['the system log', everything(join(token.root, 'logs', 'system_logs'))],
  ] as const)
    t.same(leaksIn(text), [], `the secret appears nowhere in ${where}`);
  t.match(everything(join(token.root, 'alerts', 'outbox')), /CRL source pin: the CRL was not updated/, 'the alert was queued for mailing');
});

t.test('the console upgrade command refuses the same URLs and redirects', async (t) => {
  const root = tempState(t, 'appliance-upgrade-');
  const state = join(root, 'var/lib/appliance');
  mkdirSync(join(state, 'configuration'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/appliance-version'), '0.1.0+202601010000\n');
  const env = { ...process.env, APPLIANCE_STATE_DIR: state, APPLIANCE_VERSION_FILE: join(root, 'etc/appliance-version') };
  const secretFile = secretFileIn(root);
  // Not a bundle: what the relative redirect leads to, to show it was followed.
  const web = await hostileServer(t, secretFile, () => Buffer.from('not a tar file\n'));
  web.attack();
  const cases: [string, RegExp][] = [
    [web.url('/s/secret'), /failed: refused the redirect to file:\/\/\S+crypto-user\.pin: only http and https URLs are fetched, not file:/],
    [web.url('/s/zero'), /failed: refused the redirect to file:\/\/\/dev\/zero: only http and https URLs are fetched, not file:/],
    [web.url('/s/ftp'), /failed: refused the redirect to ftp:\S+: only http and https URLs are fetched, not ftp:/],
    [web.url('/s/data'), /failed: refused the redirect to data:\S+: only http and https URLs are fetched, not data:/],
    [web.url('/s/gopher'), /failed: refused the redirect to gopher:\S+: only http and https URLs are fetched, not gopher:/],
    [web.url('/s/loop'), /failed: redirect loop: http:\S+\/s\/loop was already fetched/],
    [web.url('/s/chain'), /failed: more than 5 redirects/],
    [`file://${secretFile}`, /upgrade refused: only http and https URLs are fetched, not file:; give an http\(s\) URL or a bundle file in the configuration folder/],
    ['file:///dev/zero', /upgrade refused: only http and https URLs are fetched, not file:/],
    ['ftp://127.0.0.1/bundle.tar', /upgrade refused: only http and https URLs are fetched, not ftp:/],
    ['data:application/x-tar;base64,AAAA', /upgrade refused: only http and https URLs are fetched, not data:/],
    ['gopher://127.0.0.1/_x', /upgrade refused: only http and https URLs are fetched, not gopher:/],
  ];
  const session = await consoleSession({ env }, [...cases.map(([url]) => `upgrade ${url} now`), `upgrade ${web.url('/s/relative')} now`, 'exit']);
  for (const [url, expected] of cases) t.match(session.output, expected, `${url.slice(0, 60)}: refused`);
  t.match(session.output, /upgrade refused: the file is not an upgrade bundle/, 'the relative redirect was followed, and its body checked as a bundle');
  t.same(leaksIn(session.output), [], 'the secret appears nowhere in the console output');
  t.notOk(existsSync(join(state, 'run/upgrade-request.json')), 'nothing was staged');
  t.same(
    filesIn(join(state, 'upgrade')).filter((f) => f.endsWith('.part') || f === 'download.tar'),
    [],
    'no download is left behind',
  );
});

t.test('the upgrade download stops at its limit and removes the partial file', async (t) => {
  const { downloadBundle } = await import('../../src/os/upgrade.js');
  const dir = tempState(t, 'upgrade-limit-');
  const web = await hostileServer(t, secretFileIn(dir), () => Buffer.alloc(0));
  web.attack();
  await t.rejects(
    downloadBundle(web.url('/s/endless'), join(dir, 'upgrade', 'download.tar'), 2 * 1024 * 1024, () => {}),
    /the bundle is larger than the 2 MB this appliance can take/,
  );
  t.ok(web.endless.sent < 16 * 1024 * 1024, `reading stopped at the limit (${web.endless.sent} bytes sent)`);
  t.same(filesIn(join(dir, 'upgrade')), [], 'nothing is left in the upgrade folder');
});

t.test('fetchSmall, for OCSP: GET and POST of a small body with its content type, under a tight limit, same redirect rules', async (t) => {
  const { fetchSmall, smallBodyCeiling } = await import('../../src/os/fetch.js');
  const seen: { method?: string; type?: string; body: string }[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (d) => {
      body += d;
    });
    request.on('end', () => {
      seen.push({ method: request.method, type: request.headers['content-type'], body });
      if (request.url === '/ocsp') return response.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x00]));
      if (request.url === '/moved') return response.writeHead(307, { location: '/ocsp' }).end();
      if (request.url === '/to-file') return response.writeHead(302, { location: 'file:///etc/shadow' }).end();
      if (request.url === '/big') return response.writeHead(200).end(Buffer.alloc(70_000, 0x41));
      response.writeHead(404, 'Not Found').end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = (path: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  const limits = { maxBytes: 64 * 1024, timeoutMs: 5000 };

  const request = Buffer.from([0x30, 0x02, 0x30, 0x00]);
  const posted = await fetchSmall(url('/ocsp'), { ...limits, method: 'POST', body: request, contentType: 'application/ocsp-request', accept: 'application/ocsp-response' });
  t.same([...posted.body], [0x30, 0x03, 0x0a, 0x01, 0x00], 'the answer, in memory');
  t.equal(posted.contentType, 'application/ocsp-response');
  t.match(seen.at(-1), { method: 'POST', type: 'application/ocsp-request', body: request.toString() }, 'the server got the body with its content type');
  t.match(await fetchSmall(url('/moved'), limits), { url: url('/ocsp') }, 'a GET follows a redirect');
  await t.rejects(fetchSmall(url('/moved'), { ...limits, method: 'POST', body: request }), /HTTP status 307: a POST is not redirected/);
  await t.rejects(fetchSmall(url('/to-file'), limits), /refused the redirect to file:\/\/\/etc\/shadow: only http and https URLs are fetched/);
  await t.rejects(fetchSmall(url('/big'), limits), /the body exceeded the limit of 65536 bytes/);
  await t.rejects(fetchSmall(url('/none'), limits), /HTTP status 404 Not Found/);
  await t.rejects(fetchSmall('file:///etc/shadow', limits), /only http and https URLs are fetched, not file:/);
  await t.rejects(fetchSmall(url('/ocsp'), { ...limits, maxBytes: smallBodyCeiling + 1 }), RangeError, 'a large limit is the wrong entry point');
});
