// LDAP flapping: two real slapd hosts behind one LDAP server profile go down
// and come up on a seeded schedule (FUZZ_SEED=… replays a run, FUZZ_SEED=random
// explores) while parallel SMTP sessions authenticate with AUTH PLAIN. Whatever
// the directory does, an unauthenticated or wrong-password session never gets
// a 250 to RCPT for a relayed domain, and a valid user never gets a permanent
// refusal: 454 4.7.0 while no host answers, and success once one is back.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { sampleConfig } from '../helpers/configs.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway } from '../helpers/gateway.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const seed = process.env.FUZZ_SEED === 'random' ? Date.now() % 1_000_000 : Number(process.env.FUZZ_SEED ?? 20261129);
t.comment(`FUZZ_SEED=${seed}`);
const { random, pick } = seededRandom(seed);

const valid = [
  { uid: 'alice', password: 'Alice-Pass-1' },
  { uid: 'bob', password: 'Bob-Pass-1' },
  { uid: 'carol', password: 'Carol-Pass-1' },
];
const fixture = await gatewayFixture(t);
const ldapCa = new TestCa({ dir: join(fixture.token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
// Certificate logins (the seed's cac-auth profile): a CAC the directory knows, and one it does not.
const cacHolder = fixture.clientCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const stranger = fixture.clientCa.issue({ commonName: 'NOT.IN.DIRECTORY.1' });
const users = [...valid, { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: cacHolder.serial }];
const primary = await Slapd.start(t, { ca: ldapCa, users });
const secondary = await Slapd.start(t, { ca: ldapCa, users, host: '127.0.0.2', port: primary.port, ldapsPort: primary.ldapsPort });
const hosts = [primary, secondary];
const seedConfig = sampleConfig();

// Two listeners: one where the host access table makes 127.0.0.1 a relay that needs AUTH (the
// seed's walkthrough), one where only an authenticated session may relay past the accepted domains.
const relayPort = await freePort();
const acceptPort = await freePort();
const cacPort = await freePort();
const policies = (connection: 'relay' | 'accept', smtpAuth: 'required' | 'preferred') => [
  {
    name: 'DEFAULT',
    connection,
    maxMessageBytes: 100_000,
    maxRecipientsPerMessage: 5,
    maxMessagesPerConnection: 3,
    tls: 'preferred' as const,
    smtpAuth,
    requireTlsForSmtpAuth: false,
    // Every session here comes from 127.0.0.1, wrong passwords among them on purpose: the
    // per-address AUTH and error limits would block it, so they are kept out of the way
    // (robustness-auth-abuse.test.ts tests them).
    errorSleepMs: 0,
    softErrorLimit: 99_999,
    hardErrorLimit: 100_000,
    authFailureLimit: 1000,
    authFailureLimitPerUser: 100_000,
  },
];
const listeners = [
  ...(listenerConfig(relayPort, { name: 'RelayNeedsAuth', smtpAuthProfile: 'ldap-auth', policies: policies('relay', 'required') }) ?? []),
  ...(listenerConfig(acceptPort, { name: 'AuthToRelay', smtpAuthProfile: 'ldap-auth', policies: policies('accept', 'preferred') }) ?? []),
  ...(listenerConfig(cacPort, {
    name: 'CacToRelay',
    smtpAuthProfile: 'cac-auth',
    policies: [{ ...policies('relay', 'required')[0]!, tls: 'required', verifyClientCertificate: true, requireTlsForSmtpAuth: true }],
  }) ?? []),
];
const { gateway } = await startGateway(
  t,
  fixture,
  {
    certificates: { trustStore: [ldapCa.trustStoreEntry('directory-ca'), fixture.clientCa.trustStoreEntry('client-root')], distrusted: [] },
    ldap: { servers: [ldapServerProfile(hosts, { deadHostBackoffSeconds: 1, connectTimeoutMs: 1000, searchTimeoutMs: 2000 })], queries: seedConfig.ldap.queries },
    smtpAuth: seedConfig.smtpAuth,
    listeners,
  },
  undefined,
  (config) => new LdapSmtpAuthenticator(config, { logs: fixture.token.runtime.logs, logger: fixture.token.runtime.logger }),
);

type Kind = 'valid' | 'wrong-password' | 'unknown-user' | 'no-auth' | 'cac' | 'unknown-cac';
interface Session {
  kind: Kind;
  port: number;
  user: string;
  replies: string[];
  auth?: string;
  rcpt?: string;
  queued: boolean;
}

const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');

/** STARTTLS with a client certificate, then MAIL and RCPT: the directory is asked during the handshake. */
async function certificateSession(kind: 'cac' | 'unknown-cac'): Promise<Session> {
  const holder = kind === 'cac' ? cacHolder : stranger;
  const session: Session = { kind, port: cacPort, user: kind === 'cac' ? 'jdoe' : 'stranger', replies: [], queued: false };
  const smtp = await RawSmtp.connect(cacPort);
  const say = async (line: string) => {
    const reply = await smtp.command(line);
    session.replies.push(`${line.slice(0, 40)} -> ${reply}`);
    return reply;
  };
  try {
    session.replies.push(await smtp.reply());
    await say('EHLO client.example.com');
    if (!(await say('STARTTLS')).startsWith('220')) return session;
    await smtp.startTls({ cert: holder.pem, key: holder.keyPem });
    await say('EHLO client.example.com');
    // The certificate login's answer shows at MAIL FROM: 250, 454 while no host answers, 530 for nobody.
    session.auth = await say(`MAIL FROM:<${session.user}@example.com>`);
    if (!session.auth.startsWith('250')) return session;
    session.rcpt = await say('RCPT TO:<someone@elsewhere.example.net>');
    if (session.rcpt.startsWith('250') && (await say('DATA')).startsWith('354')) session.queued = /^250 /.test(await say(`Subject: flapping\r\n\r\nfrom ${session.user}\r\n.`));
    await say('QUIT');
  } finally {
    smtp.close();
  }
  return session;
}

async function smtpSession(kind: Kind, port: number, account = pick(valid)): Promise<Session> {
  if (kind === 'cac' || kind === 'unknown-cac') return certificateSession(kind);
  const user = kind === 'unknown-user' ? `nobody${Math.floor(random() * 1000)}` : account.uid;
  const password = kind === 'valid' ? account.password : `${account.password}-wrong`;
  const session: Session = { kind, port, user, replies: [], queued: false };
  const smtp = await RawSmtp.connect(port);
  const say = async (line: string) => {
    const reply = await smtp.command(line);
    session.replies.push(`${line.startsWith('AUTH') ? 'AUTH PLAIN …' : line} -> ${reply}`);
    return reply;
  };
  try {
    session.replies.push(await smtp.reply());
    await say('EHLO client.example.com');
    if (kind !== 'no-auth') {
      session.auth = await say(`AUTH PLAIN ${plain(user, password)}`);
      // A client stops after a failed AUTH (swaks does); a valid user tries again later.
      if (!session.auth.startsWith('235') && kind === 'valid') return session;
    }
    await say(`MAIL FROM:<${user}@example.com>`);
    session.rcpt = await say('RCPT TO:<someone@elsewhere.example.net>');
    if (session.rcpt.startsWith('250')) {
      if ((await say('DATA')).startsWith('354')) session.queued = /^250 /.test(await say(`Subject: flapping\r\n\r\nfrom ${user}\r\n.`));
    }
    await say('QUIT');
  } finally {
    smtp.close();
  }
  return session;
}

t.test('slapd hosts flap during a load of authenticated sessions', async (t) => {
  const sessions: Session[] = [];
  const errors: string[] = [];
  let flapping = true;
  const kinds: Kind[] = ['valid', 'valid', 'wrong-password', 'unknown-user', 'no-auth', 'cac', 'unknown-cac'];
  const worker = async () => {
    while (flapping) {
      try {
        sessions.push(await smtpSession(pick(kinds), pick([relayPort, acceptPort])));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: 6 }, worker);
  const cacSessions = () => sessions.filter((s) => s.kind === 'cac' || s.kind === 'unknown-cac').length;

  const schedule: string[] = [];
  const bothDownAt = 2 + Math.floor(random() * 6);
  for (let step = 0; step < 12; step++) {
    if (step === bothDownAt) {
      await Promise.all(hosts.map((h) => h.stop()));
      schedule.push('both down 2000 ms');
      await sleep(2000);
      continue;
    }
    const host = pick(hosts);
    const action = random() < 0.5 ? 'stop' : 'resume';
    await (action === 'stop' ? host.stop() : host.resume());
    const pause = 200 + Math.floor(random() * 900);
    schedule.push(`${action} ${host.host} ${pause} ms`);
    await sleep(pause);
  }
  await Promise.all(hosts.map((h) => h.resume()));
  flapping = false;
  await Promise.all(workers);
  t.comment(`schedule: ${schedule.join(', ')}`);

  t.same(errors, [], 'every session got its replies (no hung or dropped connection)');
  // Each listener counts its connections against maxConnections (50): a session that ended must not hold a place.
  await sleep(200);
  t.same(
    gateway.status().map((line) => /(\d+) open connection/.exec(line)?.[1]),
    ['0', '0', '0'],
    `every listener is back to 0 open connections after ${cacSessions()} STARTTLS sessions on one of them`,
  );
  const entitled = (s: Session) => s.kind === 'valid' || s.kind === 'cac';
  const relayedWithoutAuth = sessions.filter((s) => !entitled(s) && (s.rcpt?.startsWith('250') || s.auth?.startsWith('235')));
  t.same(relayedWithoutAuth, [], 'never an unauthenticated relay: no 235 and no 250 to RCPT without valid credentials');
  const refusedValid = sessions.filter((s) => entitled(s) && s.replies.some((r) => /(^|-> )5\d\d /.test(r)));
  t.same(refusedValid, [], 'never a permanent refusal (5xx) of a valid user, by password or by certificate');
  const cacs = sessions.filter((s) => s.kind === 'cac');
  t.ok(
    cacs.some((s) => s.queued),
    'a CAC holder relayed while a host was up',
  );
  t.ok(
    cacs.some((s) => s.auth?.startsWith('454 4.7.0')),
    'a CAC holder got 454 4.7.0 while no host answered',
  );
  t.ok(
    sessions.some((s) => s.kind === 'unknown-cac' && s.auth?.startsWith('530 5.7.0')),
    'a certificate the directory does not know got 530 5.7.0',
  );
  const unavailable = sessions.filter((s) => s.kind === 'valid' && s.auth?.startsWith('454 4.7.0'));
  const relayed = sessions.filter((s) => s.kind === 'valid' && s.queued);
  t.ok(unavailable.length > 0, `valid users got 454 4.7.0 while no host answered (${unavailable.length} times)`);
  t.ok(relayed.length > 0, `valid users relayed while a host was up (${relayed.length} messages)`);
  const refusedWrong = sessions.filter((s) => s.kind === 'wrong-password' && s.auth?.startsWith('535 5.7.8'));
  t.ok(refusedWrong.length > 0, `wrong passwords got 535 5.7.8 while a host was up (${refusedWrong.length} times)`);
  t.comment(`${sessions.length} sessions: ${relayed.length} relayed by valid users, ${unavailable.length} told 454, ${refusedWrong.length} wrong passwords refused`);
});

t.test('once the directory is back, every valid user relays on both listeners', async (t) => {
  for (const port of [relayPort, acceptPort]) {
    for (const user of valid) {
      let session = await smtpSession('valid', port, user);
      // A host stopped a moment ago may still be in its 1 s back-off; the other answers.
      for (let attempt = 0; attempt < 3 && !session.queued; attempt++) {
        await sleep(1000);
        session = await smtpSession('valid', port, user);
      }
      t.ok(session.queued, `${user.uid} relays on port ${port}`, { replies: session.replies });
    }
  }
  const cac = await smtpSession('cac', cacPort);
  t.ok(cac.queued, 'the CAC holder relays', { replies: cac.replies });
  const noAuth = await smtpSession('no-auth', acceptPort);
  t.match(noAuth.rcpt, /^530 5\.7\.0 /, 'and a session without AUTH still may not relay');
  // A NUL in an AUTH LOGIN user name is refused before any lookup.
  const login = await RawSmtp.connect(relayPort);
  t.teardown(() => login.close());
  await login.reply();
  await login.command('EHLO client.example.com');
  t.match(await login.command('AUTH LOGIN'), /^334 /);
  t.match(await login.command(Buffer.from('alice\u0000*)(uid=*').toString('base64')), /^501 5\.5\.4 /, 'a user name with a NUL: 501, not a lookup');
  const wrong = await smtpSession('wrong-password', relayPort);
  t.match(wrong.auth, /^535 5\.7\.8 /, 'and a wrong password is refused');
});
