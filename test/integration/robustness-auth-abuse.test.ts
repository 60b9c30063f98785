// AUTH and connection abuse against a real gateway with a real slapd, over real
// sockets from distinct client addresses (127.0.0.x through `localAddress`):
// brute force is slowed and blocked, the right password from the blocked address
// is refused while the real user logs in at once from elsewhere, a spread-out
// attack on one user name blocks only the failing addresses, one address cannot
// take every connection place nor open connections at any rate, a slow-loris
// DATA is cut, errors are slowed and then end the session, and every block is in
// the mail log with the address and raises one alert. Limits are small here so
// that the file runs in seconds; their defaults are in src/mail/README.md.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { AuthReportStore } from '../../src/mail/auth/report-store.js';
import { sampleConfig } from '../helpers/configs.js';
import { freePort, gatewayFixture, listenerConfig, startGateway } from '../helpers/gateway.js';
import { ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const { token } = fixture;
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'alice', password: 'Alice-Pass-1' },
    { uid: 'bob', password: 'Bob-Pass-1' },
  ],
});
const authQuery = sampleConfig().ldap.queries.find((q) => q.name === 'auth')!;
const report = new AuthReportStore(join(token.root, 'reports', 'smtp-auth.sqlite'));
t.teardown(() => report.close());

const sleepMs = 150;
const limits = {
  errorSleepMs: sleepMs,
  softErrorLimit: 3,
  hardErrorLimit: 6,
  errorWindowSeconds: 60,
  authFailureLimit: 4,
  authFailureLimitPerUser: 5,
  authFailureWindowSeconds: 60,
  authBlockSeconds: 3,
  connectionCountLimit: 3,
  connectionRateLimit: 0,
  dataTimeoutSeconds: 4,
  dataMinBytesPerSecond: 50,
  dataMinRateGraceSeconds: 1,
};
const policy = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  connection: 'accept' as const,
  maxMessageBytes: 100_000,
  maxRecipientsPerMessage: 5,
  maxMessagesPerConnection: 10,
  tls: 'off' as const,
  smtpAuth: 'preferred' as const,
  requireTlsForSmtpAuth: false,
  ...limits,
  ...extra,
});
// One listener per concern, so that each count starts clean (and counts are per listener).
const ports = { auth: await freePort(), places: await freePort(), rate: await freePort(), data: await freePort(), errors: await freePort() };
const listener = (name: string, port: number, extra: Record<string, unknown> = {}) =>
  listenerConfig(port, { name, smtpAuthProfile: 'ldap-auth', maxConnections: 6, policies: [policy('DEFAULT', extra)] })!;
const { mailLog, gateway, config } = await startGateway(
  t,
  fixture,
  {
    certificates: { trustStore: [ldapCa.trustStoreEntry('directory-ca')], distrusted: [] },
    ldap: { servers: [ldapServerProfile([slapd])], queries: [authQuery] as never },
    smtpAuth: { profiles: [{ name: 'ldap-auth', type: 'ldap', query: 'auth' }] as never },
    listeners: [
      // Here only the AUTH limits act: the error limits are left far away.
      ...listener('AuthLimits', ports.auth, { softErrorLimit: 20, hardErrorLimit: 40 }),
      ...listener('Places', ports.places, { tls: 'preferred' }),
      ...listener('Rate', ports.rate, { connectionRateLimit: 5 }),
      ...listener('Data', ports.data),
      ...listener('Errors', ports.errors),
    ],
  },
  undefined,
  (config) => new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger, report }),
);
const systemLog = () => readFileSync(join(token.root, 'logs', 'system_logs', 'system_logs.current'), 'utf8');
const alertsMatching = (pattern: RegExp) =>
  systemLog()
    .split('\n')
    .filter((line) => /Alert \(warning, mail\)/.test(line) && pattern.test(line));

/** An SMTP client bound to one loopback address, so the gateway sees that address. */
class Client {
  private buffer = '';
  closed = false;
  private constructor(private socket: Socket) {
    this.listen(socket);
  }

  private listen(socket: Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  async startTls(): Promise<void> {
    if (!(await this.command('STARTTLS')).startsWith('220')) throw new Error('STARTTLS refused');
    const secure = tlsConnect({ socket: this.socket, rejectUnauthorized: false, servername: 'mail.example.com' });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.socket = secure;
    this.closed = false;
    this.listen(secure);
  }

  static async open(port: number, from: string): Promise<Client> {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Client(socket);
  }

  /** The next complete reply, or '' when the server closed the connection without one. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = /^\d{3} .*\r\n/m.exec(this.buffer);
      if (end) {
        const upTo = end.index + end[0].length;
        const reply = this.buffer.slice(0, upTo);
        this.buffer = this.buffer.slice(upTo);
        return reply.trimEnd();
      }
      if (this.closed) return '';
      if (Date.now() > deadline) throw new Error(`no reply; have ${JSON.stringify(this.buffer)}`);
      await sleep(5);
    }
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** A command's reply and how long it took. */
  async timed(line: string): Promise<{ reply: string; ms: number }> {
    const start = performance.now();
    const reply = await this.command(line);
    return { reply, ms: performance.now() - start };
  }

  write(raw: string): void {
    if (!this.socket.destroyed) this.socket.write(raw);
  }

  async gone(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await sleep(10);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

const plain = (user: string, password: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`;

async function session(port: number, from: string): Promise<Client> {
  const client = await Client.open(port, from);
  const banner = await client.reply();
  if (!banner.startsWith('220')) throw new Error(`no banner for ${from}: ${banner}`);
  await client.command('EHLO client.example.com');
  return client;
}

async function login(port: number, from: string, user: string, password: string) {
  const client = await session(port, from);
  const result = await client.timed(plain(user, password));
  client.close();
  return result;
}

t.test('AUTH brute force from one address is slowed, then blocked; the right password from it waits out the block; the user logs in at once from elsewhere', async (t) => {
  // A first login opens the gateway's LDAP connection, so the times below are the gateway's waits.
  t.match((await login(ports.auth, '127.0.0.9', 'alice', 'Alice-Pass-1')).reply, /^235 /);
  const attacker = await session(ports.auth, '127.0.0.2');
  const attempts: { reply: string; ms: number }[] = [];
  for (let i = 0; i < limits.authFailureLimit; i++) attempts.push(await attacker.timed(plain('alice', `guess-${i}`)));
  for (const [i, a] of attempts.slice(0, -1).entries()) {
    t.match(a.reply, /^535 5\.7\.8 /, `guess ${i + 1}: 535 5.7.8`);
    t.ok(a.ms >= (i + 1) * sleepMs - 10, `guess ${i + 1} answered after ${Math.round(a.ms)} ms (at least ${(i + 1) * sleepMs})`);
  }
  t.ok(attempts[0]!.ms < attempts[1]!.ms && attempts[1]!.ms < attempts[2]!.ms, 'the wait grows with each failure');
  t.match(attempts.at(-1)!.reply, /^421 4\.7\.0 Too many failed authentication attempts/, `guess ${limits.authFailureLimit} starts the block: 421 4.7.0`);
  t.ok(await attacker.gone(), 'and the connection is closed');
  t.comment(`reply times of the guesses: ${attempts.map((a) => Math.round(a.ms)).join(', ')} ms`);

  const blocked = await login(ports.auth, '127.0.0.2', 'alice', 'Alice-Pass-1');
  t.match(blocked.reply, /^454 4\.7\.0 Too many failed authentication attempts from your address/, 'the right password from the blocked address: 454 4.7.0');
  for (let i = 0; i < 3; i++) t.match((await login(ports.auth, '127.0.0.2', 'alice', `more-${i}`)).reply, /^454 4\.7\.0 /, 'and every further try while blocked');
  const byLogin = await session(ports.auth, '127.0.0.2');
  t.match(await byLogin.command('AUTH LOGIN'), /^334 /);
  t.match(await byLogin.command(Buffer.from('alice').toString('base64')), /^334 /);
  t.match(await byLogin.command(Buffer.from('Alice-Pass-1').toString('base64')), /^454 4\.7\.0 /, 'AUTH LOGIN too');
  byLogin.close();
  t.match((await login(ports.places, '127.0.0.2', 'alice', 'Alice-Pass-1')).reply, /^235 /, 'the block is per listener: on another listener the address logs in');

  // A commit reloads the listener (a new endpoint): the counts and the block stay.
  await gateway.apply({
    ...config,
    listeners: config.listeners.map((l) => (l.name === 'AuthLimits' ? { ...l, policies: l.policies.map((p) => ({ ...p, maxRecipientsPerMessage: 6 })) } : l)),
  });
  t.match((await login(ports.auth, '127.0.0.2', 'alice', 'Alice-Pass-1')).reply, /^454 4\.7\.0 /, 'a reload does not lift the block');

  const elsewhere = await login(ports.auth, '127.0.0.3', 'alice', 'Alice-Pass-1');
  t.match(elsewhere.reply, /^235 /, 'the real user from another address logs in');
  t.ok(elsewhere.ms < sleepMs, `at once (${Math.round(elsewhere.ms)} ms)`);

  t.match(
    mailLog(),
    /Warning: ICID \d+ address 127\.0\.0\.2 AUTH blocked for 3 s: 4 failed AUTH attempts from the address \(limit 4\)/,
    'the block is in the mail log with the address',
  );
  t.equal(alertsMatching(/SMTP AUTH from 127\.0\.0\.2 blocked on listener AuthLimits/).length, 1, 'one alert for the block, not one per attempt');
  t.notMatch(mailLog(), /Alice-Pass-1|guess-/, 'no password is logged');

  await sleep(limits.authBlockSeconds * 1000 + 200);
  t.match((await login(ports.auth, '127.0.0.2', 'alice', 'Alice-Pass-1')).reply, /^235 /, 'after the block time the right password works again from that address');
});

t.test('a spread-out attack on one user name blocks the failing addresses, never the user from a clean one', async (t) => {
  const addresses = ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15'];
  const replies: string[] = [];
  for (const from of addresses) replies.push((await login(ports.auth, from, 'bob', `guess-${from}`)).reply);
  t.same(
    replies.map((r) => r.slice(0, 9)),
    ['535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8', '535 5.7.8', '421 4.7.0'],
    `one failure each from ${addresses.length} addresses: the one past the user name's limit (${limits.authFailureLimitPerUser}) is blocked`,
  );
  t.match((await login(ports.auth, '127.0.0.10', 'bob', 'again')).reply, /^421 4\.7\.0 /, 'an address that failed before fails again: blocked at once');
  t.match((await login(ports.auth, '127.0.0.15', 'bob', 'Bob-Pass-1')).reply, /^454 4\.7\.0 /, 'the right password from a blocked address: 454');
  const own = await login(ports.auth, '127.0.0.20', 'bob', 'Bob-Pass-1');
  t.match(own.reply, /^235 /, 'bob from a clean address logs in');
  t.ok(own.ms < sleepMs, `at once (${Math.round(own.ms)} ms)`);
  t.match((await login(ports.auth, '127.0.0.11', 'bob', 'Bob-Pass-1')).reply, /^235 /, 'and from an address that failed once but was not blocked');
  t.match(mailLog(), /address 127\.0\.0\.15 AUTH blocked for 3 s: a failed AUTH for user name "bob", which failed 6 times from all addresses \(limit 5\)/);
  t.equal(alertsMatching(/user name "bob" failing from many addresses/).length, 1, 'one alert for the attack on the user name');
});

t.test('one address cannot take every connection place; another still gets a banner', async (t) => {
  const held: Client[] = [];
  for (let i = 0; i < limits.connectionCountLimit; i++) {
    const c = await Client.open(ports.places, '127.0.0.30');
    t.match(await c.reply(), /^220 /, `connection ${i + 1} from 127.0.0.30: banner`);
    held.push(c);
  }
  for (let i = 0; i < 3; i++) {
    const over = await Client.open(ports.places, '127.0.0.30');
    t.match(await over.reply(), /^421 4\.7\.0 Too many connections from your address \(at most 3 at once\)/, `connection ${limits.connectionCountLimit + i + 1}: 421 4.7.0`);
    t.ok(await over.gone(), 'and closed');
  }
  const other = await Client.open(ports.places, '127.0.0.31');
  t.match(await other.reply(), /^220 /, 'another address gets a banner');
  other.close();
  held.pop()?.close();
  await sleep(200);
  const again = await Client.open(ports.places, '127.0.0.30');
  t.match(await again.reply(), /^220 /, 'a place given back can be taken again');
  again.close();
  for (const c of held) c.close();

  // smtp-server drops the raw socket's listeners at STARTTLS: the places of TLS sessions must come back too.
  for (let round = 0; round < 2; round++) {
    const secured: Client[] = [];
    for (let i = 0; i < limits.connectionCountLimit; i++) {
      const c = await session(ports.places, '127.0.0.32');
      await c.startTls();
      t.match(await c.command('EHLO client.example.com'), /^250/, `round ${round + 1}: TLS session ${i + 1} from 127.0.0.32`);
      secured.push(c);
    }
    for (const c of secured) c.close();
    await sleep(300);
  }
  t.match(mailLog(), /Warning: ICID \d+ address 127\.0\.0\.30 REFUSED: 3 open connections \(limit 3\): 421 4\.7\.0/);
  t.equal(alertsMatching(/connections from 127\.0\.0\.30 refused: connection count limit on listener Places/).length, 1, 'one alert for the three refusals');
});

t.test('a burst of connections from one address is refused with 421 past the rate', async (t) => {
  const replies: string[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await Client.open(ports.rate, '127.0.0.40');
    replies.push((await c.reply()).slice(0, 9));
    c.close();
  }
  t.same(replies, ['220 mail.', '220 mail.', '220 mail.', '220 mail.', '220 mail.', '421 4.7.0', '421 4.7.0', '421 4.7.0'], 'five a minute, then 421 4.7.0');
  const other = await Client.open(ports.rate, '127.0.0.41');
  t.match(await other.reply(), /^220 /, 'another address is not affected');
  other.close();
  t.match(mailLog(), /address 127\.0\.0\.40 REFUSED: 6 connections this minute \(limit 5\): 421 4\.7\.0/);
  t.equal(alertsMatching(/connections from 127\.0\.0\.40 refused: connection rate limit on listener Rate/).length, 1);
});

async function intoData(from: string): Promise<Client> {
  const client = await session(ports.data, from);
  await client.command('MAIL FROM:<sender@example.org>');
  t.match(await client.command('RCPT TO:<user@example.com>'), /^250 /);
  t.match(await client.command('DATA'), /^354 /);
  return client;
}

t.test('a slow-loris DATA is cut: below the minimum rate, and past the total time', async (t) => {
  const loris = await intoData('127.0.0.50');
  const start = performance.now();
  let cut = '';
  const replyPromise = loris.reply(15_000).then((r) => {
    cut = r;
  });
  while (!cut && !loris.closed && performance.now() - start < 10_000) {
    loris.write('x');
    await sleep(500);
  }
  await replyPromise;
  const seconds = (performance.now() - start) / 1000;
  t.match(cut, /^421 4\.4\.2 DATA arrives slower than 50 bytes a second/, 'one byte every 500 ms: 421 4.4.2');
  t.ok(seconds < 3, `cut after ${seconds.toFixed(1)} s (grace ${limits.dataMinRateGraceSeconds} s plus the bytes' credit)`);
  t.ok(await loris.gone(), 'and disconnected');

  const steady = await intoData('127.0.0.51');
  const begun = performance.now();
  let ended = '';
  const endPromise = steady.reply(15_000).then((r) => {
    ended = r;
  });
  while (!ended && !steady.closed && performance.now() - begun < 10_000) {
    steady.write(`${'y'.repeat(30)}\r\n`); // 64 bytes a second: above the minimum rate
    await sleep(500);
  }
  await endPromise;
  const total = (performance.now() - begun) / 1000;
  t.match(ended, /^421 4\.4\.2 DATA took longer than 4 seconds/, 'above the rate but past the total time: 421 4.4.2');
  t.ok(total >= limits.dataTimeoutSeconds - 0.1 && total < limits.dataTimeoutSeconds + 2, `cut after ${total.toFixed(1)} s`);

  const normal = await intoData('127.0.0.52');
  t.match(await normal.command(`Subject: fine\r\n\r\n${`${'z'.repeat(76)}\r\n`.repeat(26)}.`), /^250 2\.0\.0 Ok: queued as \d+/, 'a message sent at a normal pace is queued');
  normal.close();
  t.match(mailLog(), /Warning: MID \d+ ICID \d+ address 127\.0\.0\.50 DATA cut: 421 4\.4\.2 DATA arrives slower/);
  t.match(mailLog(), /address 127\.0\.0\.51 DATA cut: 421 4\.4\.2 DATA took longer than 4 seconds/);
});

t.test('errors from one address are slowed past the soft limit and end the session at the hard limit, in its next sessions too', async (t) => {
  const client = await session(ports.errors, '127.0.0.60');
  const times: number[] = [];
  const replies: string[] = [];
  for (let i = 0; i < limits.hardErrorLimit + 1; i++) {
    const r = await client.timed('RCPT TO:<someone@example.com>');
    times.push(r.ms);
    replies.push(r.reply.slice(0, 3));
  }
  t.comment(`reply times: ${times.map((ms) => Math.round(ms)).join(', ')} ms`);
  t.same(replies, ['503', '503', '503', '503', '503', '503', '421'], 'six errors answered, then 421');
  for (const i of [0, 1, 2, 3]) t.ok(times[i]! < sleepMs, `error ${i + 1}: no wait up to the soft limit (${Math.round(times[i]!)} ms)`);
  t.ok(times[4]! >= sleepMs - 10, `command 5 waits ${sleepMs} ms (${Math.round(times[4]!)})`);
  t.ok(times[5]! >= 2 * sleepMs - 10, `command 6 waits ${2 * sleepMs} ms (${Math.round(times[5]!)})`);
  t.ok(await client.gone(), 'the session is closed');

  const next = await Client.open(ports.errors, '127.0.0.60');
  t.match(await next.reply(), /^220 /);
  t.match(await next.command('EHLO client.example.com'), /^421 4\.7\.0 Too many errors/, 'a new session from that address ends at once');
  const elsewhere = await session(ports.data, '127.0.0.60');
  t.match(await elsewhere.command('NOOP'), /^250 /, 'the same address on another listener is not affected');
  elsewhere.close();
  const clean = await session(ports.errors, '127.0.0.61');
  t.match(await clean.command('NOOP'), /^250 /, 'another address is not affected');
  clean.close();
  t.match(mailLog(), /address 127\.0\.0\.60 disconnected: 6 errors \(hard limit 6\): 421 4\.7\.0/);
  t.equal(alertsMatching(/127\.0\.0\.60 reached the hard error limit on listener Errors/).length, 1);
});
