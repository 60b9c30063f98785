// The HSM token goes away while the gateway service (the compiled service, in
// its own process) runs, and comes back. SoftHSM2 stands in for a pulled card
// by losing its token folder: the running process's PKCS#11 calls then fail
// (CKR_GENERAL_ERROR, CKR_OBJECT_HANDLE_INVALID) and keep failing, the way a
// card's sessions die with the card. A TLS Required listener must answer
// STARTTLS with 454 4.7.0 (no crash, no plain-text fallthrough, no hang), an
// alert must be raised, and TLS must come back by itself when the token does.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { QueuedAlert } from '../../src/os/alerts.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, swaks } from '../helpers/gateway.js';
import { compiled } from '../helpers/state.js';

const fixture = await gatewayFixture(t);
const { token } = fixture;
const port = await freePort();
const base = token.runtime.store.committed();
await token.runtime.store.commit(
  {
    ...base.config,
    system: { ...base.config.system, hostname: 'mail.example.com' },
    alerts: { ...base.config.alerts, recipients: [{ address: 'admin@example.com', severities: ['critical', 'warning', 'information'] }] },
    listeners: listenerConfig(port, {
      policies: [{ name: 'DEFAULT', connection: 'accept', maxMessageBytes: 100_000, maxRecipientsPerMessage: 5, maxMessagesPerConnection: 3, tls: 'required', smtpAuth: 'off' }],
    }),
  },
  { user: 'test', source: 'local', baseRevision: base.meta.revision },
);

const outbox = join(token.root, 'alerts', 'outbox');
const alerts = (): QueuedAlert[] => (existsSync(outbox) ? readdirSync(outbox).map((f) => JSON.parse(readFileSync(join(outbox, f), 'utf8')) as QueuedAlert) : []);
const mailLog = () => readFileSync(join(token.root, 'logs', 'mail_logs', 'mail_logs.current'), 'utf8');

async function until<T>(what: string, check: () => T | Promise<T>, ms = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

let output = '';
const service: ChildProcess = spawn(process.execPath, [compiled('mail/gateway-service.js')], {
  env: { ...token.env, NOTIFY_SOCKET: '', LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
service.stdout?.on('data', (d) => {
  output += d;
});
service.stderr?.on('data', (d) => {
  output += d;
});
let exited: number | null | undefined;
service.on('exit', (code) => {
  exited = code;
});
t.teardown(() => {
  service.kill('SIGTERM');
});
await until('the gateway service to listen', async () => {
  try {
    const smtp = await RawSmtp.connect(port);
    smtp.close();
    return true;
  } catch {
    return false;
  }
});

const tokens = token.files.tokens;
const pulled = `${tokens}.pulled`;

t.test('with the token in place, a message goes through over STARTTLS', async (t) => {
  const sent = await swaks({ port, tls: 'starttls' });
  t.match(sent.output, /<~ +250 2\.0\.0 Ok: queued as \d+/, 'a message is queued over TLS');
});

t.test('the token goes away: STARTTLS gets 454 4.7.0, nothing flows in plain text, an alert is raised', async (t) => {
  renameSync(tokens, pulled);
  // The watch looks every 2 s; a handshake that fails on the HSM makes it look at once.
  const raised = await until('the HSM alert', () => alerts().find((a) => a.class === 'hardware' && a.severity === 'critical'));
  t.match(raised.subject, /HSM token unavailable/, 'a critical hardware alert is queued in the outbox');
  t.same(raised.to, ['admin@example.com']);
  t.match(mailLog(), /Critical: HSM token unavailable: STARTTLS is answered with 454 4\.7\.0/, 'the mail log says so');

  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  t.match(await smtp.reply(), /^220 /, 'the listener still answers');
  t.match(await smtp.command('EHLO client.example.com'), /^250/);
  t.equal(await smtp.command('STARTTLS'), '454 4.7.0 TLS not available due to temporary reason', 'STARTTLS: 454, not a handshake the HSM cannot finish');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^530 5\.7\.0 /, 'TLS Required: no plain-text fallthrough');
  t.match(await smtp.command('NOOP'), /^250/, 'the session is not hung');
  t.match(await smtp.command('QUIT'), /^221/);

  const viaSwaks = await swaks({ port, tls: 'starttls' });
  t.match(viaSwaks.output, /<\*\* +454 4\.7\.0 TLS not available/, 'swaks --tls gets 454 as well');
  t.notMatch(viaSwaks.output, /queued as/, 'and no message is taken');
  t.equal(exited, undefined, 'the service did not crash');
});

t.test('the token comes back: the service recovers by itself, with an alert, and mail flows over TLS again', async (t) => {
  const pid = service.pid;
  const tokenBackAt = Date.now();
  renameSync(pulled, tokens);
  const recovered = await until('the recovery alert', () => alerts().find((a) => a.class === 'hardware' && a.severity === 'information'));
  t.match(recovered.subject, /HSM token available again/, 'an information alert says TLS resumes');
  t.match(mailLog(), /HSM token available again \(token "appliance" opens and the crypto user logs in\)/, 'the mail log records the recovery');
  const sent = await until('a message over STARTTLS', async () => {
    const attempt = await swaks({ port, tls: 'starttls' });
    return /250 2\.0\.0 Ok: queued as \d+/.test(attempt.output) ? attempt : undefined;
  });
  t.match(sent.output, /-> STARTTLS\s+<- +220 /, 'STARTTLS is accepted again');
  t.match(sent.output, /<~ +250 2\.0\.0 Ok: queued as \d+/, 'a message with TLS goes through');
  t.equal(exited, undefined, 'the service process never exited');
  const pidFile = statSync(join(token.root, 'run', 'gateway.pid'));
  t.ok(pidFile.mtimeMs > tokenBackAt, 'it started again (its pid file is written once it is ready again)');
  t.equal(readFileSync(join(token.root, 'run', 'gateway.pid'), 'utf8'), String(pid), 'in place, under the same pid');
  t.equal(alerts().filter((a) => a.class === 'hardware').length, 2, 'one alert down, one alert up');
  t.notMatch(output, /Uncaught|TypeError|ReferenceError/, 'nothing was thrown');
});
