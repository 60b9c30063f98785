// The seed's first walkthrough ("Authenticating a User's SMTP Session With a
// Client Certificate") and "Retrieving a Certificate Revocation List", done
// entirely through the console from a factory configuration, then checked with
// swaks against the running gateway service, a real slapd and SoftHSM2.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fileServer } from '../helpers/file-server.js';
import { freePort, swaks } from '../helpers/gateway.js';
import { pipedConsole, startService } from '../helpers/services.js';
import { baseDn, Slapd, serviceDn, servicePassword } from '../helpers/slapd.js';
import { blankToken, officerPassword } from '../helpers/softhsm.js';
import { TestCa } from '../helpers/test-ca.js';

const token = await blankToken(t);
const files = await fileServer(t);
const env = { ...token.env, APPLIANCE_USER: 'admin', LOG_LEVEL: 'warn' };
const configFolder = join(token.root, 'configuration');
mkdirSync(configFolder, { recursive: true });

const clientCa = new TestCa({ dir: join(token.root, 'pki', 'client-ca'), commonName: 'Client Root CA' });
const ldapCa = new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const john = clientCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const jane = clientCa.issue({ commonName: 'ROE.JANE.2222222222' });
writeFileSync(join(configFolder, 'client-ca.pem'), clientCa.pem);
writeFileSync(join(configFolder, 'directory-ca.pem'), ldapCa.pem);
const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: john.serial },
    { uid: 'jroe', password: 'Jane-Pass-1', caccn: 'ROE.JANE.2222222222', cacserial: jane.serial },
    { uid: 'amy', password: 'Amy-Pass-1' },
  ],
});

/** The console with piped input, leaving it as a user does (exit, and yes to discarding). */
const console = (lines: string[]) => pipedConsole(env, [...lines, 'exit', 'y']);
const startGatewayService = (t: Test) => startService(t, t, env, 'gateway', 'mail/gateway-service.js');

const port = await freePort();

t.test('walkthrough: client certificate authentication, configured at the console', async (t) => {
  const output = await console([
    'fipsconfig init',
    officerPassword,
    officerPassword,
    'fipsconfig',
    officerPassword,
    'fipsconfig keygen gateway-tls ec-p256',
    'fipsconfig selfsign gateway-tls mail.example.com 30',
    'fipsconfig exit',
    'certconfig trust new client-root pem=@client-ca.pem',
    'certconfig trust new directory-ca pem=@directory-ca.pem',
    `ldapconfig server new corp hosts=${slapd.host} port=${slapd.port} security=starttls bindDn=${serviceDn} bindPassword=${servicePassword} baseDn=${baseDn}`,
    'ldapconfig query new cac certificate server=corp fields=cn,sn queryString=(&(caccn={cn})(cacserial={sn})) userIdAttribute=uid',
    'smtpauthconfig new cac-auth certificate certificateQuery=cac allowSmtpAuthFallback=no',
    `listenerconfig new Outgoing private address=127.0.0.1 port=${port} certificate=gateway-tls smtpAuthProfile=cac-auth acceptedDomains=example.com`,
    'listenerconfig policy Outgoing edit RELAYED tls=required verifyClientCertificate=yes smtpAuth=required',
    'listenerconfig hat Outgoing edit RELAYLIST entries=127.0.0.0/8',
    'commit walkthrough 1',
    `ldapconfig test cac cn=DOE.JOHN.1234567890 sn=${john.serial}`,
  ]);
  t.match(output, /Committed revision \d+\./, output);
  t.match(
    output,
    /filter: \(&\(caccn=DOE\.JOHN\.1234567890\)\(cacserial=[0-9A-F]+\)\)|\(&\(caccn=DOE\.JOHN\.1234567890\)\(cacserial=[0-9A-F]+\)\)/,
    'Test Query shows the final filter',
  );
  t.match(output, /Result: user jdoe/, 'and the user it finds');

  await startGatewayService(t);
  t.match(await console(['version']), /Self-test: HSM ready \(token "appliance"\)/, 'version shows the power-on self-test passed in the gateway');
  const relayed = await swaks({ port, tls: 'starttls', cert: john, to: 'someone@elsewhere.example.net' });
  t.match(relayed.output, /<~ +250 2\.0\.0 Ok: queued as \d+/, 'a valid CAC relays without AUTH');
  t.notMatch(relayed.output, /~> AUTH/);
  const none = await swaks({ port, tls: 'starttls', to: 'someone@elsewhere.example.net' });
  t.match(none.output, /554 5\.7\.1 A valid client certificate is required/, 'no certificate is refused');
});

t.test('walkthrough: retrieving a CRL, configured at the console', async (t) => {
  const service = await startGatewayService(t);
  clientCa.revoke(jane, 'keyCompromise');
  const crlFile = join(token.root, 'client-ca.crl');
  writeFileSync(crlFile, clientCa.gencrl());
  const before = await swaks({ port, tls: 'starttls', cert: jane, to: 'someone@elsewhere.example.net' });
  t.match(before.output, /250 2\.0\.0 Ok: queued as/, 'before CRL checking, Jane still relays');

  const output = await console([
    'crlconfig setup edit enabled=yes whenIssuerHasNoCrl=reject',
    `crlconfig source new cac fileType=asn1 primaryUrl=${files.url(crlFile)} schedule=daily:02:00`,
    'commit CRL checking',
  ]);
  t.match(output, /Committed revision \d+\.\nReloading:|Reloading: .*gateway[\s\S]*Committed revision/, output);
  // The reload gives the gateway its new CRL source; "fetch now" runs there.
  await new Promise((r) => setTimeout(r, 1500));
  const fetched = await console(['crlconfig fetch cac', 'crlconfig status']);
  t.match(fetched, /cac:\n\s+last attempt \S+, last success \S+ from http:/, fetched);
  t.match(fetched, /1 entries, CRL number/);
  const after = await swaks({ port, tls: 'starttls', cert: jane, to: 'someone@elsewhere.example.net' });
  t.match(after.output, /554 5\.7\.1 Client certificate rejected: the certificate is revoked \(keyCompromise\)/, 'after the CRL, Jane is refused');
  const johnAgain = await swaks({ port, tls: 'starttls', cert: john, to: 'someone@elsewhere.example.net' });
  t.match(johnAgain.output, /250 2\.0\.0 Ok: queued as/, 'John still relays');
  service.kill('SIGTERM');
});

t.test('walkthrough: either a client certificate or SMTP AUTH, configured at the console', async (t) => {
  const output = await console([
    'ldapconfig query new auth smtp-auth server=corp queryString=(uid={u}) allowanceQueryString=(&(uid={u})(|(!(caccn=*))(cacexempt=*)(cacemergency>={t})))',
    'smtpauthconfig new ldap-auth ldap query=auth checkAllowance=yes whenDisallowed=reject "customResponse=525:Dear user, please use your CAC to send email."',
    'smtpauthconfig edit cac-auth allowSmtpAuthFallback=yes fallbackProfile=ldap-auth',
    'listenerconfig policy Outgoing edit RELAYED tls=preferred verifyClientCertificate=no requireTlsForSmtpAuth=yes',
    'commit walkthrough 3',
    'ldapconfig test auth user=amy',
  ]);
  t.match(output, /Committed revision \d+\./, output);
  t.match(output, /allowance: \(&\(uid=amy\)\(\|\(!\(caccn=\*\)\)\(cacexempt=\*\)\(cacemergency>=\d{14}Z\)\)\)/, 'Test Query shows {t} as GeneralizedTime');
  const service = await startGatewayService(t);
  const amy = await swaks({ port, tls: 'starttls', to: 'someone@elsewhere.example.net', extra: ['--auth', 'PLAIN', '--auth-user', 'amy', '--auth-password', 'Amy-Pass-1'] });
  t.match(amy.output, /235 2\.7\.0[\s\S]*250 2\.0\.0 Ok: queued as/, 'a user with no CAC gets in by AUTH');
  const cacHolder = await swaks({
    port,
    tls: 'starttls',
    to: 'someone@elsewhere.example.net',
    extra: ['--auth', 'PLAIN', '--auth-user', 'jdoe', '--auth-password', 'John-Pass-1'],
  });
  t.match(cacHolder.output, /525 5\.7\.1 Dear user, please use your CAC to send email\./, 'a CAC holder trying AUTH gets the custom response');
  const withCard = await swaks({ port, tls: 'starttls', cert: john, to: 'someone@elsewhere.example.net' });
  t.match(withCard.output, /250 2\.0\.0 Ok: queued as/, 'and gets in with the card');
  const plain = await swaks({ port, to: 'someone@elsewhere.example.net', extra: ['--auth', 'PLAIN', '--auth-user', 'amy', '--auth-password', 'Amy-Pass-1'] });
  t.match(plain.output, /Host did not advertise authentication/, 'AUTH is not offered without TLS');
  service.kill('SIGTERM');
});

t.test('walkthrough: SMTP AUTH only, monitoring users who should use their CAC, configured at the console', async (t) => {
  const output = await console([
    'smtpauthconfig edit ldap-auth whenDisallowed=monitor customResponse=default',
    'listenerconfig edit Outgoing smtpAuthProfile=ldap-auth',
    'listenerconfig policy Outgoing edit RELAYED tls=required smtpAuth=required requireTlsForSmtpAuth=yes',
    'commit walkthrough 2',
  ]);
  t.match(output, /Committed revision \d+\./, output);
  const service = await startGatewayService(t);
  const john = await swaks({ port, tls: 'starttls', to: 'someone@elsewhere.example.net', extra: ['--auth', 'LOGIN', '--auth-user', 'jdoe', '--auth-password', 'John-Pass-1'] });
  t.match(john.output, /250 2\.0\.0 Ok: queued as/, 'in monitor mode a CAC holder using AUTH still relays');
  const { readFileSync } = await import('node:fs');
  t.match(readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8'), /jdoe[^\n]*(not allowed|monitor)/i, 'and the activity is logged');
  const wrong = await swaks({ port, tls: 'starttls', to: 'someone@elsewhere.example.net', extra: ['--auth', 'LOGIN', '--auth-user', 'jdoe', '--auth-password', 'wrong'] });
  t.match(wrong.output, /535 5\.7\.8 Authentication credentials invalid/);
  service.kill('SIGTERM');
});
