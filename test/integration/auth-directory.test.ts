// LDAP server profiles against real slapd instances: failover when the first
// host is stopped or never answers, 454 4.7.0 when every host is down (for a
// certificate login and for AUTH), a directory that comes back, ldaps:// and
// StartTLS with CA verification, the client certificate from the HSM, and the
// Test Query action.

import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { tlsOptionsFor } from '../../src/hsm/tls-options.js';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { testQuery } from '../../src/mail/auth/test-query.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { sampleConfig } from '../helpers/configs.js';
import { freePort, gatewayFixture, relayingListener, startGateway, swaks } from '../helpers/gateway.js';
import { ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { testCa } from '../helpers/softhsm.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const { token, clientCa, hsm } = fixture;
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const john = clientCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const users = [
  { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: john.serial },
  { uid: 'nocac', password: 'NoCac-Pass-1' },
];
const primary = await Slapd.start(t, { ca: ldapCa, users });
const secondary = await Slapd.start(t, { ca: ldapCa, users, host: '127.0.0.2', port: primary.port, ldapsPort: primary.ldapsPort });
const seed = sampleConfig();
const authLog = () => readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8');
const external = 'someone@elsewhere.example.net';
const trustStore = [clientCa.trustStoreEntry('client-root'), ldapCa.trustStoreEntry('directory-ca')];
const hsmCertificate = (label: string) => tlsOptionsFor(hsm.certificates, label, { tokenLabel: token.hsm.tokenLabel, pinFile: token.files.userPin });

function authenticatorFor(server: Record<string, unknown>, clientCertificate = false) {
  const config = parseConfig({ system: { hostname: 'mail.example.com' }, certificates: { trustStore }, ldap: { servers: [server], queries: seed.ldap.queries } });
  return new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, ...(clientCertificate ? { clientCertificate: hsmCertificate } : {}) });
}

t.test('failover to the second host, 454 when every host is down, and recovery', async (t) => {
  const port = await freePort();
  await startGateway(
    t,
    fixture,
    {
      certificates: { trustStore, distrusted: [] },
      ldap: { servers: [ldapServerProfile([primary, secondary], { deadHostBackoffSeconds: 600 })], queries: seed.ldap.queries },
      smtpAuth: seed.smtpAuth,
      listeners: relayingListener(port, 'cac-auth', { tls: 'preferred', requireTlsForSmtpAuth: true }),
    },
    undefined,
    (config) => new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger }),
  );
  const auth = () => swaks({ port, tls: 'starttls', to: external, extra: ['--auth', 'PLAIN', '--auth-user', 'nocac', '--auth-password', 'NoCac-Pass-1'] });
  const byCertificate = () => swaks({ port, tls: 'starttls', cert: john, to: external });
  const primaryAt = `127\\.0\\.0\\.1:${primary.port}`;
  const secondaryAt = `127\\.0\\.0\\.2:${primary.port}`;

  t.equal((await auth()).code, 0, 'both hosts up');
  t.match(authLog(), new RegExp(`User "nocac" login .* succeeded .*LDAP server corp at ${primaryAt}\\)`), 'the first host answers');

  await primary.stop();
  t.equal((await byCertificate()).code, 0, 'with the first host stopped, a certificate login still works');
  t.match(authLog(), new RegExp(`Warning: LDAP server corp host ${primaryAt} failed: .*ECONNREFUSED.*; skipped for 600 s`));
  t.match(authLog(), new RegExp(`User "jdoe" login .* via SMTP client certificate succeeded .*LDAP server corp at ${secondaryAt}`), 'the second host answered');
  t.equal((await auth()).code, 0, 'and so does AUTH, on the second host without trying the first again');
  t.equal(authLog().match(new RegExp(`host ${primaryAt} failed`, 'g'))?.length, 1, 'the dead host is skipped during its back-off');

  await secondary.stop();
  const down = await auth();
  t.match(down.output, /<~\* +454 4\.7\.0 Temporary authentication failure, try again later/, 'AUTH with every host down: 454, not a refusal');
  const certificateDown = await byCertificate();
  t.match(
    certificateDown.output,
    /<~\* +454 4\.7\.0 Temporary authentication failure/,
    'a certificate login with every host down: 454 at MAIL FROM, never an unauthenticated relay',
  );
  t.match(authLog(), /Warning: User "nocac" login from 127\.0\.0\.1 via SMTP AUTH unavailable: LDAP server "corp" is unavailable/);

  await primary.resume();
  const back = await auth();
  t.equal(back.code, 0, 'once a host is back it is used again, back-off or not', { output: back.output, log: authLog().split('\n').slice(-6) });
  await secondary.resume();
});

t.test('a first host that accepts connections but never answers: the second answers within the timeout', async (t) => {
  const silent: Socket[] = [];
  const blackhole = createServer((socket) => silent.push(socket));
  await new Promise<void>((resolve) => blackhole.listen(primary.port, '127.0.0.3', resolve));
  t.teardown(() => {
    for (const s of silent) s.destroy();
    blackhole.close();
  });
  const server = ldapServerProfile([secondary], { hosts: ['127.0.0.3', '127.0.0.2'], connectTimeoutMs: 500, searchTimeoutMs: 1000 });
  const result = await testQuery(authenticatorFor(server), 'auth', { user: 'nocac', password: 'NoCac-Pass-1' });
  t.match(result, { outcome: 'credentials valid; allowance query allows SMTP AUTH', searches: [{ host: `127.0.0.2:${primary.port}` }] });
  t.match(authLog(), new RegExp(`LDAP server corp host 127\\.0\\.0\\.3:${primary.port} failed: .*timed out`));
});

t.test('ldaps:// and StartTLS verify the directory certificate', async (t) => {
  const ldaps = await testQuery(authenticatorFor(ldapServerProfile([primary], { security: 'ldaps' })), 'cac', { certificate: { cn: 'DOE.JOHN.1234567890', sn: john.serial } });
  t.match(ldaps, { outcome: 'user jdoe (uid=jdoe,ou=people,dc=example,dc=com)', searches: [{ host: `127.0.0.1:${primary.ldapsPort}` }] }, 'ldaps:// with a trusted CA');
  t.match(ldaps.searches[0]?.entries, [{ attributes: { uid: ['jdoe'], caccn: ['DOE.JOHN.1234567890'], cacserial: [john.serial] } }], 'Test Query shows the entry');
  t.notOk(JSON.stringify(ldaps).includes('userPassword'), 'but not its password');
  const plain = await testQuery(authenticatorFor(ldapServerProfile([primary], { security: 'none' })), 'auth', { user: 'nocac', password: 'NoCac-Pass-1' });
  t.match(
    plain,
    { outcome: 'credentials valid; allowance query allows SMTP AUTH', searches: [{ host: `127.0.0.1:${primary.port}` }] },
    'plain ldap:// where the administrator chose no TLS',
  );

  const untrusted = authenticatorFor(ldapServerProfile([primary], { security: 'starttls' }));
  const noCa = new LdapSmtpAuthenticator(parseConfig({ system: { hostname: 'mail.example.com' }, ldap: { servers: [ldapServerProfile([primary])], queries: seed.ldap.queries } }), {
    logs: token.runtime.logs,
  });
  t.match(await testQuery(untrusted, 'auth', { user: 'nocac' }), { outcome: '1 user entries found' }, 'StartTLS with a trusted CA');
  t.match(
    await testQuery(noCa, 'auth', { user: 'nocac' }),
    { outcome: /^error: LDAP server "corp" is unavailable: .*(self-signed|unable to (get|verify)|certificate)/i },
    'a directory certificate from an unknown CA is refused',
  );

  const wrongName = authenticatorFor(ldapServerProfile([primary], { hosts: ['localhost'], security: 'starttls' }));
  t.match(await testQuery(wrongName, 'auth', { user: 'nocac' }), { outcome: '1 user entries found' }, 'a host name in the certificate matches');
});

t.test('the client certificate for the directory comes from the HSM', async (t) => {
  const label = 'ldap-client';
  await hsm.keys.generate({ label, algorithm: 'ec-p256' });
  const issuer = testCa(token, 'Directory Client CA');
  await hsm.certificates.import(label, issuer.sign(await hsm.certificates.csr(label, { subject: { commonName: 'mail.example.com' } }), 'extendedKeyUsage=clientAuth') + issuer.pem);
  const demanding = await Slapd.start(t, { ca: ldapCa, users, requireClientCertificateFrom: issuer });

  const without = await testQuery(authenticatorFor(ldapServerProfile([demanding])), 'auth', { user: 'nocac' });
  t.match(without, { outcome: /^error: LDAP server "corp" is unavailable/ }, 'the directory refuses a client without a certificate');
  const withHsmKey = await testQuery(authenticatorFor(ldapServerProfile([demanding], { clientCertificate: label }), true), 'auth', { user: 'nocac' });
  t.match(withHsmKey, { outcome: '1 user entries found' }, 'with the HSM-held key the directory lets the appliance in');
});

t.test('Test Query shows the final filters, the server used, the entries without passwords, and the time taken', async (t) => {
  const authenticator = authenticatorFor(ldapServerProfile([primary]));
  const result = await testQuery(authenticator, 'auth', { user: 'jdoe' }, new Date('2026-11-29T17:30:05Z'));
  t.match(result, {
    query: 'auth',
    outcome: '1 user entries found',
    searches: [
      {
        step: 'user',
        filter: '(uid=jdoe)',
        server: 'corp',
        host: `127.0.0.1:${primary.port}`,
        entries: [{ dn: 'uid=jdoe,ou=people,dc=example,dc=com', attributes: { caccn: ['DOE.JOHN.1234567890'] } }],
      },
      { step: 'allowance', filter: '(&(uid=jdoe)(|(!(caccn=*))(cacexempt=*)(cacemergency>=20261129173005Z)))', entries: [] },
    ],
  });
  t.type(result.elapsedMs, 'number');
  t.notOk(JSON.stringify(result).includes('userPassword'), 'no password attribute is shown');
  const checked = await testQuery(authenticator, 'auth', { user: 'jdoe', password: 'John-Pass-1' });
  t.equal(checked.outcome, 'credentials valid; allowance query does not allow SMTP AUTH');
  t.match(await testQuery(authenticator, 'auth', { user: 'jdoe', password: 'nope' }), { outcome: 'credentials refused: the directory refused the password (LDAP bind)' });
});
