// The seed's third walkthrough, "Authenticating a User's SMTP Session with
// Either a Client Certificate or SMTP AUTH": a certificate profile that falls
// back to an LDAP profile rejecting, with the custom response, users the
// allowance query does not allow; RELAYED is TLS Preferred, SMTP
// authentication required, TLS required for SMTP authentication. The seed's
// exact query strings (test/helpers/configs.ts) run against a real slapd.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { AuthReportStore } from '../../src/mail/auth/report-store.js';
import { sampleConfig } from '../helpers/configs.js';
import { freePort, gatewayFixture, RawSmtp, relayingListener, startGateway, swaks } from '../helpers/gateway.js';
import { generalizedTime, ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const { token, clientCa } = fixture;
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const john = clientCa.issue({ commonName: 'DOE.JOHN.1234567890', email: 'john.doe@example.com' });
const hour = 3600_000;
const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: john.serial },
    { uid: 'nocac', password: 'NoCac-Pass-1' },
    { uid: 'exempt', password: 'Exempt-Pass-1', caccn: 'EXEMPT.USER.3', cacserial: '3C', cacexempt: true },
    { uid: 'emergency', password: 'Emergency-Pass-1', caccn: 'EMERGENCY.USER.4', cacserial: '4D', cacemergency: generalizedTime(new Date(Date.now() + 2 * hour)) },
    { uid: 'expired', password: 'Expired-Pass-1', caccn: 'EXPIRED.USER.5', cacserial: '5E', cacemergency: generalizedTime(new Date(Date.now() - hour)) },
  ],
});
const seed = sampleConfig();
const authLog = () => readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8');
const external = 'someone@elsewhere.example.net';

const port = await freePort();
const report = new AuthReportStore(join(token.root, 'reports', 'smtp-auth.sqlite'));
t.teardown(() => report.close());
await startGateway(
  t,
  fixture,
  {
    certificates: { trustStore: [clientCa.trustStoreEntry('client-root'), ldapCa.trustStoreEntry('directory-ca')], distrusted: [] },
    ldap: { servers: [ldapServerProfile([slapd])], queries: seed.ldap.queries },
    smtpAuth: seed.smtpAuth,
    listeners: relayingListener(port, 'cac-auth', { tls: 'preferred', requireTlsForSmtpAuth: true }),
  },
  undefined,
  (config) => new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger, report }),
);
const auth = (user: string, password: string) => swaks({ port, tls: 'starttls', to: external, extra: ['--auth', 'PLAIN', '--auth-user', user, '--auth-password', password] });
const before = report.totals('hour');

t.test('a CAC holder gets in by certificate and is not offered AUTH again', async (t) => {
  const result = await swaks({ port, tls: 'starttls', cert: john, to: external });
  t.equal(result.code, 0, 'relayed on the certificate alone');
  t.notMatch(result.output, /<- {2}250[- ]AUTH/, 'AUTH is not offered before TLS, where the policy wants TLS for it');
  t.notMatch(result.output, /<~ {2}250[- ]AUTH/, 'but not after the certificate logged the user in');
  t.match(authLog(), /User "jdoe" login from 127\.0\.0\.1 via SMTP client certificate succeeded/);
});

t.test('users without a CAC, exempt users and users inside their emergency window get in by AUTH', async (t) => {
  t.equal((await auth('nocac', 'NoCac-Pass-1')).code, 0, 'no CAC issued');
  t.equal((await auth('exempt', 'Exempt-Pass-1')).code, 0, 'cacexempt');
  t.equal((await auth('emergency', 'Emergency-Pass-1')).code, 0, 'cacemergency in the future');
  t.match(
    authLog(),
    /User "emergency" login from 127\.0\.0\.1 via SMTP AUTH succeeded \(ICID \d+, listener OutgoingMail, profile ldap-auth, fallback from certificate profile cac-auth/,
  );
});

t.test('a CAC holder trying AUTH, and a user whose emergency window has passed, get the custom response', async (t) => {
  t.match((await auth('jdoe', 'John-Pass-1')).output, /<~\* +525 5\.7\.1 Dear user, please use your CAC to send email\./);
  t.match((await auth('expired', 'Expired-Pass-1')).output, /<~\* +525 5\.7\.1 Dear user, please use your CAC to send email\./);
});

t.test('without a certificate or AUTH nothing is relayed, and AUTH needs TLS first', async (t) => {
  const anonymous = await swaks({ port, tls: 'starttls', to: external });
  t.match(anonymous.output, /<~\* +530 5\.7\.0 Authentication required/);
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  t.equal(await smtp.command(`AUTH PLAIN ${Buffer.from('\0nocac\0NoCac-Pass-1').toString('base64')}`), '538 5.7.11 Encryption required for requested authentication mechanism');
});

t.test('the report counts the traffic sent above', async (t) => {
  const after = report.totals('hour');
  const sent = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
  t.same(sent, {
    certificate_ok: 1,
    certificate_failed: 0,
    auth_ok: 3,
    auth_allowed_monitor: 0,
    auth_failed: 2,
    auth_fallback: 5,
    messages_authenticated: 4,
    messages_unauthenticated: 0,
  });
  const byUser = Object.fromEntries(report.bySender('hour', 'user').map((r) => [r.key, r]));
  t.match(byUser, {
    jdoe: { certificate_ok: 1, auth_failed: 1, auth_fallback: 1, messages_authenticated: 1 },
    nocac: { auth_ok: 1, messages_authenticated: 1 },
    expired: { auth_failed: 1 },
  });
  t.match(report.bySender('hour', 'ip'), [{ key: '127.0.0.1', auth_fallback: 5, certificate_ok: 1 }]);
});
