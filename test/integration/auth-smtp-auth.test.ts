// The seed's second walkthrough, "Authenticating a User's SMTP Session with the
// SMTP AUTH Command": an SMTP Authentication query with LDAP Bind and the
// allowance query, in monitor mode and in reject mode with a custom response;
// plus wrong and empty passwords, AUTH LOGIN, and the password-as-attribute
// method with {SSHA} and {CRYPT}. A real slapd answers; swaks is the client.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { AuthReportStore } from '../../src/mail/auth/report-store.js';
import { sampleConfig } from '../helpers/configs.js';
import { consoleSession } from '../helpers/console.js';
import { freePort, gatewayFixture, RawSmtp, relayingListener, startGateway, swaks } from '../helpers/gateway.js';
import { generalizedTime, ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const { token } = fixture;
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const day = 86400_000;
const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'nocac', password: 'NoCac-Pass-1' },
    { uid: 'cacuser', password: 'Cac-Pass-1', caccn: 'USER.CAC.1111111111', cacserial: '1A' },
    { uid: 'crypted', userPasswordValue: `{CRYPT}${execFileSync('openssl', ['passwd', '-6', 'Crypt-Pass-1'], { encoding: 'utf8' }).trim()}` },
    { uid: 'expired', password: 'Expired-Pass-1', caccn: 'USER.EXPIRED.2', cacserial: '2B', cacemergency: generalizedTime(new Date(Date.now() - day)) },
  ],
});
const seed = sampleConfig();
const authQuery = seed.ldap.queries.find((q) => q.name === 'auth')!;
const authLog = () => readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8');
const external = 'someone@elsewhere.example.net';

async function walkthroughGateway(t: Test, profile: Record<string, unknown>, query: Record<string, unknown> = {}) {
  const port = await freePort();
  const report = new AuthReportStore(join(token.root, 'reports', 'smtp-auth.sqlite'));
  t.teardown(() => report.close());
  const started = await startGateway(
    t,
    fixture,
    {
      certificates: { trustStore: [ldapCa.trustStoreEntry('directory-ca')], distrusted: [] },
      ldap: { servers: [ldapServerProfile([slapd])], queries: [{ ...authQuery, ...query }] as never },
      smtpAuth: { profiles: [{ name: 'ldap-auth', type: 'ldap', query: 'auth', checkAllowance: true, ...profile }] as never },
      listeners: relayingListener(port, 'ldap-auth', { tls: 'required', requireTlsForSmtpAuth: true }),
    },
    undefined,
    (config) => new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger, report }),
  );
  const send = (user: string, password: string, method = 'PLAIN') =>
    swaks({ port, tls: 'starttls', to: external, extra: ['--auth', method, '--auth-user', user, '--auth-password', password] });
  return { port, report, send, ...started };
}

t.test('walkthrough 2, monitor mode: a user the allowance query does not allow still relays, and it is logged', async (t) => {
  const { send, report } = await walkthroughGateway(t, { whenDisallowed: 'monitor' });
  const before = report.totals('hour');
  const allowed = await send('nocac', 'NoCac-Pass-1');
  t.equal(allowed.code, 0, 'a user without a CAC relays');
  t.match(
    authLog(),
    /Info: User "nocac" login from 127\.0\.0\.1 via SMTP AUTH succeeded \(ICID \d+, listener OutgoingMail, profile ldap-auth, LDAP server corp at 127\.0\.0\.1:\d+\)/,
  );

  const monitored = await send('cacuser', 'Cac-Pass-1');
  t.equal(monitored.code, 0, 'a CAC holder using AUTH relays in monitor mode');
  t.match(authLog(), /Info: User "cacuser" login from 127\.0\.0\.1 via SMTP AUTH succeeded: not allowed to use SMTP AUTH \(allowance query\); allowed in monitor mode/);

  const wrong = await send('nocac', 'not-the-password');
  t.match(wrong.output, /<~?\*+ +535 5\.7\.8 Authentication credentials invalid/, 'a wrong password gets 535 5.7.8');
  t.match(authLog(), /Warning: User "nocac" login from 127\.0\.0\.1 via SMTP AUTH failed: the directory refused the password \(LDAP bind\)/);
  t.notMatch(authLog(), /not-the-password|NoCac-Pass-1|Cac-Pass-1/, 'no password is ever logged');

  const after = report.totals('hour');
  t.equal(after.auth_ok - before.auth_ok, 1, 'report: one AUTH login the allowance query permits');
  t.equal(after.auth_allowed_monitor - before.auth_allowed_monitor, 1, 'report: one AUTH login let through by monitor mode alone, not counted as a plain success');
  t.equal(after.auth_failed - before.auth_failed, 1, 'report: one failed AUTH');
  t.equal(after.messages_authenticated - before.messages_authenticated, 2, 'report: two messages from authenticated senders');
  t.equal(after.auth_fallback - before.auth_fallback, 0, 'report: no fallback on an LDAP profile listener');

  const console = await consoleSession(token, ['authreport hour user', 'exit']);
  t.match(console.output, /auth ok: 1\n/, 'the console report, totals');
  t.match(console.output, /auth allowed, not permitted by the allowance query \(monitor mode\): 1\n/);
  t.match(
    console.output,
    /\n {2}cacuser {2}.*auth ok 0, auth allowed, not permitted by the allowance query \(monitor mode\) 1,/,
    'per user: the CAC holder is the one monitor mode let through',
  );
  t.match(console.output, /\n {2}nocac {2}.*auth ok 1, auth allowed, not permitted by the allowance query \(monitor mode\) 0,/);
});

t.test('walkthrough 2, reject mode: the custom SMTP response; wrong, empty and odd credentials', async (t) => {
  const { send, port } = await walkthroughGateway(t, { whenDisallowed: 'reject', customResponse: { code: 525, text: 'Dear user, please use your CAC to send email.' } });
  const refused = await send('cacuser', 'Cac-Pass-1');
  t.match(refused.output, /<~?\*+ +525 5\.7\.1 Dear user, please use your CAC to send email\./, 'a CAC holder gets the custom response');
  t.match(authLog(), /Warning: User "cacuser" login from 127\.0\.0\.1 via SMTP AUTH failed: not allowed to use SMTP AUTH \(allowance query\); rejected with 525/);

  const refusedWrong = await send('cacuser', 'wrong');
  t.match(refusedWrong.output, /535 5\.7\.8/, 'with a wrong password the same user gets 535: the allowance answer is not revealed to a stranger');

  const expired = await send('expired', 'Expired-Pass-1', 'LOGIN');
  t.match(expired.output, /525 5\.7\.1 Dear user/, 'an emergency window in the past does not allow AUTH (AUTH LOGIN)');
  const plain = await send('nocac', 'NoCac-Pass-1', 'LOGIN');
  t.equal(plain.code, 0, 'AUTH LOGIN works for an allowed user');

  const star = await send('*', 'NoCac-Pass-1');
  t.match(star.output, /535 5\.7\.8/, 'a user name of * is a name, not a wildcard');

  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  await smtp.command('STARTTLS');
  await smtp.startTls();
  await smtp.command('EHLO client.example.com');
  t.equal(
    await smtp.command(`AUTH PLAIN ${Buffer.from('\0nocac\0').toString('base64')}`),
    '535 5.7.8 Authentication credentials invalid',
    'an empty password is refused (an empty bind would be anonymous)',
  );
  t.match(authLog(), /User "nocac" login from 127\.0\.0\.1 via SMTP AUTH failed: empty password refused before any bind/);
});

t.test('password as attribute: {SSHA} and {CRYPT} values read by the service account', async (t) => {
  const { send } = await walkthroughGateway(t, { checkAllowance: false }, { method: 'password-attribute', allowanceQueryString: undefined });
  t.equal((await send('nocac', 'NoCac-Pass-1')).code, 0, '{SSHA} (slappasswd)');
  t.equal((await send('crypted', 'Crypt-Pass-1')).code, 0, '{CRYPT} SHA-512 (openssl passwd -6)');
  t.match((await send('crypted', 'Crypt-Pass-2')).output, /535 5\.7\.8/, 'a wrong password for a {CRYPT} value');
  t.match(authLog(), /User "crypted" login from 127\.0\.0\.1 via SMTP AUTH failed: the password does not match/);
  t.notMatch(authLog(), /\{CRYPT\}|\{SSHA\}/, 'stored hashes are not logged either');
});
