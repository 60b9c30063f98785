// The seed's first walkthrough, "Authenticating a User's SMTP Session With a
// Client Certificate": a Certificate Authentication query against a real slapd,
// a certificate profile without AUTH fallback, and a RELAYED policy requiring
// TLS, a client certificate and SMTP authentication. Clients are swaks with
// client certificates; revocation comes from a real CRL of the client CA.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { AuthReportStore } from '../../src/mail/auth/report-store.js';
import { testQuery } from '../../src/mail/auth/test-query.js';
import { CrlService } from '../../src/mail/crl/crl-service.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { fileServer } from '../helpers/file-server.js';
import { freePort, gatewayFixture, relayingListener, startGateway, swaks } from '../helpers/gateway.js';
import { ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const files = await fileServer(t);
const { clientCa, rogueCa, token } = fixture;
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });

const john = clientCa.issue({ commonName: 'DOE.JOHN.1234567890', email: 'john.doe@example.com' });
const revoked = clientCa.issue({ commonName: 'ROE.JANE.2222222222' });
const reissued = clientCa.issue({ commonName: 'SMITH.ANN.3333333333' });
const unknown = rogueCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const eve = clientCa.issue({ commonName: 'EVE*)(uid=*' });
const wildcard = clientCa.issue({ commonName: 'DOE*' });
clientCa.revoke(revoked, 'keyCompromise');

const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: john.serial },
    { uid: 'jroe', password: 'Jane-Pass-1', caccn: 'ROE.JANE.2222222222', cacserial: revoked.serial },
    // The directory still has the serial of Ann's previous card.
    { uid: 'asmith', password: 'Ann-Pass-1', caccn: 'SMITH.ANN.3333333333', cacserial: '1A2B3C4D5E6F' },
    { uid: 'evelyn', password: 'Evelyn-Pass-1', caccn: 'EVELYN.SMITH.5555555555', cacserial: eve.serial },
  ],
});

const crlFile = join(token.root, 'client-ca.crl');
writeFileSync(crlFile, clientCa.gencrl());
const crl = new CrlService({
  config: parseConfig({
    ...factoryConfig('mail.example.com'),
    certificates: { trustStore: [clientCa.trustStoreEntry('client-root')] },
    crl: { enabled: true, sources: [{ name: 'cac', fileType: 'asn1', primaryUrl: files.url(crlFile), schedule: { kind: 'hourly', minute: 0 } }] },
  }),
  stateDir: join(token.root, 'crl-state'),
  alerts: token.runtime.alerts,
  logs: token.runtime.logs,
  fetchWhenMissing: false,
});
await crl.fetchNow('cac');

const reportPath = join(token.root, 'reports', 'smtp-auth.sqlite');
const authLog = () => readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8');
const external = 'someone@elsewhere.example.net';

async function walkthroughGateway(t: Test, queryString: string, fields: ('cn' | 'sn')[]) {
  const port = await freePort();
  const report = new AuthReportStore(reportPath);
  t.teardown(() => report.close());
  let authenticator: LdapSmtpAuthenticator | undefined;
  const started = await startGateway(
    t,
    fixture,
    {
      certificates: { trustStore: [clientCa.trustStoreEntry('client-root'), ldapCa.trustStoreEntry('directory-ca')], distrusted: [] },
      ldap: { servers: [ldapServerProfile([slapd])], queries: [{ name: 'cac', type: 'certificate', server: 'corp', fields, queryString, userIdAttribute: 'uid' }] },
      smtpAuth: { profiles: [{ name: 'cac-auth', type: 'certificate', certificateQuery: 'cac', allowSmtpAuthFallback: false }] },
      listeners: relayingListener(port, 'cac-auth', { tls: 'required', verifyClientCertificate: true }),
    },
    { checker: crl.revocationChecker(), whenUnknown: 'reject' },
    (config) => {
      authenticator = new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger, report });
      return authenticator;
    },
  );
  return { port, report, authenticator: authenticator!, ...started };
}

t.test('walkthrough 1: a valid CAC relays with no AUTH command; everything else is refused', async (t) => {
  const { port, mailLog, report } = await walkthroughGateway(t, '(&(objectClass=posixAccount)(caccn={cn})(cacserial={sn}))', ['cn', 'sn']);
  const before = report.totals('hour');

  const valid = await swaks({ port, tls: 'starttls', cert: john, to: external });
  t.equal(valid.code, 0, 'the CAC holder relays');
  t.match(valid.output, /<[-~] +250 2\.0\.0 Ok: queued as \d+/);
  t.notMatch(valid.output, /AUTH/, 'no AUTH is offered or used: the certificate is the authentication');
  t.match(
    authLog(),
    /Info: User "jdoe" login from 127\.0\.0\.1 via SMTP client certificate succeeded \(ICID \d+, listener OutgoingMail, profile cac-auth, certificate serial [0-9A-F]+ CN "DOE\.JOHN\.1234567890", LDAP server corp at 127\.0\.0\.1:\d+, entry uid=jdoe,ou=people,dc=example,dc=com\)/,
  );
  t.match(mailLog(), /certificate login user jdoe/);

  const none = await swaks({ port, tls: 'starttls', to: external });
  t.match(none.output, /554 5\.7\.1 A valid client certificate is required/, 'no certificate: refused');

  const gone = await swaks({ port, tls: 'starttls', cert: revoked, to: external });
  t.match(gone.output, /554 5\.7\.1 Client certificate rejected: .*revoked/i, 'a revoked certificate: refused');
  t.match(authLog(), /Warning: User "ROE\.JANE\.2222222222" login from 127\.0\.0\.1 via SMTP client certificate failed: certificate refused: .*revoked/i);

  const rogue = await swaks({ port, tls: 'starttls', cert: unknown, to: external });
  t.match(rogue.output, /554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/, 'a certificate from an unknown CA: refused');

  const stale = await swaks({ port, tls: 'starttls', cert: reissued, to: external });
  t.match(stale.output, /<~?\*+ +530 5\.7\.0 Authentication required/, 'a certificate whose serial the directory does not have: not authenticated, so not relayed');
  t.match(authLog(), /Warning: User "SMITH\.ANN\.3333333333" login from 127\.0\.0\.1 via SMTP client certificate failed: no directory entry matches the certificate/);

  const after = report.totals('hour');
  t.equal(after.certificate_ok - before.certificate_ok, 1, 'report: one certificate login succeeded');
  t.equal(after.certificate_failed - before.certificate_failed, 3, 'report: revoked, unknown-CA and stale-serial certificates failed');
  t.equal(after.messages_authenticated - before.messages_authenticated, 1, 'report: one authenticated message');
  t.equal(after.messages_unauthenticated - before.messages_unauthenticated, 0, 'report: no unauthenticated message got through');
  t.match(report.bySender('hour', 'user'), [{ key: 'jdoe', certificate_ok: 1, messages_authenticated: 1 }]);
});

t.test('a CN written as an LDAP filter (EVE*)(uid=*) matches nobody else', async (t) => {
  // A query on the CN alone, where an unescaped value would match EVELYN or, with DOE*, jdoe.
  const { port, authenticator } = await walkthroughGateway(t, '(caccn={cn})', ['cn']);
  const injected = await swaks({ port, tls: 'starttls', cert: eve, to: external });
  t.match(injected.output, /<~?\*+ +530 5\.7\.0 Authentication required/, 'EVE*)(uid=* does not log in');
  const star = await swaks({ port, tls: 'starttls', cert: wildcard, to: external });
  t.match(star.output, /<~?\*+ +530 5\.7\.0 Authentication required/, 'DOE* is not a wildcard for jdoe');
  t.notMatch(
    authLog(),
    /User "(evelyn|jdoe)" login .* via SMTP client certificate succeeded \(ICID \d+, listener OutgoingMail, profile cac-auth, certificate serial [0-9A-F]+ CN "(EVE|DOE\*)/,
  );

  const tested = await testQuery(authenticator, 'cac', { certificate: { cn: 'EVE*)(uid=*' } });
  t.equal(tested.searches[0]?.filter, '(caccn=EVE\\2a\\29\\28uid=\\2a)', 'Test Query shows the escaped final filter');
  t.same(tested.searches[0]?.entries, [], 'and that it finds nobody');
  t.match(tested, { outcome: /^no user: no directory entry matches/, searches: [{ server: 'corp', host: `127.0.0.1:${slapd.port}` }] });

  slapd.modify(`dn: uid=eve,ou=people,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: cacUser
uid: eve
cn: eve
sn: eve
caccn: EVE*)(uid=*
`);
  const literal = await swaks({ port, tls: 'starttls', cert: eve, to: external });
  t.equal(literal.code, 0, 'a directory entry with exactly that CN is the one user it matches');
  t.match(authLog(), /User "eve" login from 127\.0\.0\.1 via SMTP client certificate succeeded/);
});
