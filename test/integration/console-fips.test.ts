// FIPS management mode and the settings commands, driven as an administrator
// drives them: the console process with its answers on standard input.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { consoleSession } from '../helpers/console.js';
import { blankToken, officerPassword, pkcs11Tool, testCa } from '../helpers/softhsm.js';

t.test('initialise, enter FIPS mode (auto-commit), make keys, and every change in the mode commits', async (t) => {
  const token = await blankToken(t);
  const session = await consoleSession(token, [
    'systemconfig edit timezone=Europe/Berlin',
    'fipsconfig init',
    officerPassword,
    officerPassword,
    'fipsconfig',
    officerPassword,
    'fipsconfig keygen gateway-tls ec-p256',
    'fipsconfig selfsign gateway-tls mail.example.com 30',
    'fipsconfig keys',
    'listenerconfig new Inbound public port=2525 address=127.0.0.1 certificate=gateway-tls',
    'history',
    'exit',
  ]);
  t.equal(session.code, 0, session.output);
  t.match(session.output, /The HSM is initialised/);
  t.match(session.output, /Pending changes committed as revision 2\./, 'entering the mode commits what was pending');
  t.match(session.output, /Key pair "gateway-tls" \(ec-p256\) generated in the HSM/);
  t.match(session.output, /gateway-tls {2}ec-p256/);
  t.match(session.output, /Committed as revision 3 \(FIPS management mode commits every change\)/, 'a change in the mode commits at once');
  t.match(session.output, /^\s+3 {2}\S+ {2}officer1 via fips-auto \(192\.0\.2\.44\) {2}FIPS management mode: listenerconfig new Inbound/m);
  t.match(session.output, /^\s+2 {2}\S+ {2}officer1 via fips-auto \(192\.0\.2\.44\) {2}entering FIPS management mode: pending changes committed automatically/m);
  t.notMatch(session.output, new RegExp(officerPassword), 'the password is never echoed');
  const audit = readFileSync(join(token.root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.notMatch(audit, new RegExp(officerPassword), 'nor written to the audit log');
  t.match(readFileSync(join(token.root, 'logs', 'fips_logs', 'fips_logs.current'), 'utf8'), /FIPS Officer login by officer1 \(192\.0\.2\.44\) succeeded/);
  t.match(pkcs11Tool(token, ['--list-objects']).output, /label:\s+gateway-tls/);
});

t.test('wrong Officer passwords: two warn, the third wipes the HSM and ends the session', async (t) => {
  const token = await blankToken(t);
  const init = await consoleSession(token, ['fipsconfig init', officerPassword, officerPassword, 'fipsconfig', officerPassword, 'fipsconfig keygen precious ec-p256', 'exit']);
  t.equal(init.code, 0, init.output);
  const attempts = await consoleSession(token, ['fipsconfig', 'wrong-1', 'fipsconfig', 'wrong-2', 'status']);
  t.match(attempts.output, /Wrong FIPS Officer password\. 2 attempt\(s\) left before the HSM is wiped/);
  t.match(attempts.output, /Wrong FIPS Officer password\. 1 attempt\(s\) left before the HSM is wiped/);
  t.match(attempts.output, /Running revision/, 'the session goes on after a wrong password');
  const third = await consoleSession(token, ['fipsconfig', 'wrong-3', 'status']);
  t.equal(third.code, 3, 'the console ends the session');
  t.match(third.output, /the HSM has been initialised, so every key and certificate it held is gone[\s\S]*This session is closing/);
  t.notMatch(third.output, /Running revision/, 'no command runs after the wipe');
  t.notMatch(pkcs11Tool(token, ['--list-objects']).output, /precious/, 'the key is gone');
  t.ok(readFileSync(join(token.root, 'run', 'reboot-request.json'), 'utf8'), 'a reboot is requested');
});

t.test('settings commands: typed values, references followed on rename, deletes refused while used', async (t) => {
  const token = await blankToken(t);
  const session = await consoleSession(token, [
    'ldapconfig server new corp hosts=ldap1.example.com,ldap2.example.com baseDn=dc=example,dc=com bindDn=cn=gw,dc=example,dc=com bindPassword=Bind-Secret-7',
    'ldapconfig query new auth smtp-auth server=corp queryString=(uid={u})',
    'smtpauthconfig new users ldap query=auth',
    'listenerconfig new Outgoing private port=2587 address=127.0.0.1 smtpAuthProfile=users',
    'listenerconfig policy Outgoing edit RELAYED tls=required verifyClientCertificate=yes smtpAuth=required',
    'listenerconfig hat Outgoing edit RELAYLIST entries=10.0.0.0/8,192.0.2.1-192.0.2.9',
    'ldapconfig server rename corp directory',
    'ldapconfig query delete auth',
    'listenerconfig policy Outgoing edit RELAYED tls=sometimes',
    'listenerconfig edit Outgoing port=99999',
    'commit walkthrough setup',
    'ldapconfig query show auth',
    'listenerconfig policy Outgoing show RELAYED',
    'exit',
  ]);
  t.match(session.output, /Renamed LDAP server profile "corp" to "directory"; updated LDAP query "auth"/);
  t.match(session.output, /cannot delete LDAP query "auth": it is used by SMTP authentication profile "users"/);
  t.match(session.output, /the change was not made:\n\s+- listeners\.0\.policies\.1\.tls: .*(off|preferred|required)/);
  t.match(session.output, /the change was not made:\n\s+- listeners\.0\.port:/);
  t.match(session.output, /Committed revision 2\./);
  t.match(session.output, /"server": "directory"/);
  t.match(session.output, /"verifyClientCertificate": true/);
  const committed = JSON.parse(readFileSync(join(token.root, 'config', 'committed.json'), 'utf8'));
  const audit = readFileSync(join(token.root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.match(audit, /ran: ldapconfig server new corp hosts=\S+ baseDn=\S+ bindDn=\S+ bindPassword=\*\*\*\*\*/, 'the audit log masks the bind password');
  t.notMatch(audit, /Bind-Secret-7/);
  t.same(committed.config.listeners[0].hostAccessTable[0].entries, ['10.0.0.0/8', '192.0.2.1-192.0.2.9']);
  t.same(committed.config.ldap.servers[0].hosts, ['ldap1.example.com', 'ldap2.example.com']);
});

t.test('no way out to a shell', async (t) => {
  const token = await blankToken(t);
  const tries = await consoleSession(token, ['status; sh', '$(reboot)', '`id`', 'sh -c id', '!sh', `help ${'x'.repeat(5000)}`, 'help\u001b[2J\u0007 status', 'exit']);
  t.match(tries.output, /unknown command "sh"/);
  t.match(tries.output, /unknown command "\$\(reboot\)"/);
  t.match(tries.output, /unknown command "`id`"/);
  t.match(tries.output, /unknown command "!sh"/);
  t.match(tries.output, /longer than 4096 characters and was ignored/);
  t.notMatch(tries.output, /uid=\d+/, 'nothing ran a program');
  const oneShot = await consoleSession(token, [], ['-c', 'sh']);
  t.match(oneShot.output, /unknown command "-c"/, 'arguments are console commands, never a shell');
});

t.test('the Officer changes the Officer password; a wrong current one counts as a failed attempt', async (t) => {
  const token = await blankToken(t);
  const next = 'Battery-Staple-77';
  const session = await consoleSession(token, [
    'fipsconfig init',
    officerPassword,
    officerPassword,
    'fipsconfig',
    officerPassword,
    'fipsconfig passwd',
    'not-the-password',
    next,
    next,
    'fipsconfig passwd',
    officerPassword,
    next,
    next,
    'exit',
  ]);
  t.match(session.output, /Wrong FIPS Officer password\. 2 attempt\(s\) left/, 'a wrong current password is counted');
  t.match(session.output, /The FIPS Officer password is changed/);
  const withNew = await consoleSession(token, ['fipsconfig', next, 'fipsconfig status', 'exit']);
  t.match(withNew.output, /FIPS management mode: on/, 'the new password opens the mode');
  const withOld = await consoleSession(token, ['fipsconfig', officerPassword, 'exit']);
  t.match(withOld.output, /Wrong FIPS Officer password/, 'the old one no longer does');
});

t.test('the factory Officer password must be changed before FIPS management mode opens', async (t) => {
  const token = await blankToken(t);
  await consoleSession(token, ['fipsconfig init', officerPassword, officerPassword, 'exit']);
  writeFileSync(token.files.officerPasswordIsFactory, 'factory\n'); // what the image's first boot leaves
  const next = 'Officer-Chosen-9';
  const refused = await consoleSession(token, ['fipsconfig', officerPassword, next, 'Officer-Typo-9', 'fipsconfig status', 'exit']);
  t.match(refused.output, /still the factory one: set a new one now/);
  t.match(refused.output, /the two new passwords differ; nothing was changed/);
  t.match(refused.output, /FIPS management mode: off/, 'without a new password the mode stays closed');
  t.ok(existsSync(token.files.officerPasswordIsFactory), 'and the password is still marked as the factory one');
  const same = await consoleSession(token, ['fipsconfig', officerPassword, officerPassword, officerPassword, 'fipsconfig status', 'exit']);
  t.match(same.output, /must differ from the current one/, 'the factory password cannot be "changed" to itself');
  const changed = await consoleSession(token, ['fipsconfig', officerPassword, next, next, 'fipsconfig status', 'exit']);
  t.match(changed.output, /The FIPS Officer password is changed/);
  t.match(changed.output, /FIPS management mode: on/);
  t.notOk(existsSync(token.files.officerPasswordIsFactory), 'the factory mark is gone');
  const again = await consoleSession(token, ['fipsconfig', next, 'fipsconfig status', 'exit']);
  t.notMatch(again.output, /factory/, 'the next login is a plain one');
  t.match(again.output, /FIPS management mode: on/);
});

t.test("a CSR made in the HSM, signed by a CA and pasted back, becomes the key's certificate; a bad paste changes nothing", async (t) => {
  const token = await blankToken(t);
  const csrSession = await consoleSession(token, [
    'fipsconfig init',
    officerPassword,
    officerPassword,
    'fipsconfig',
    officerPassword,
    'fipsconfig keygen mail-tls ec-p256',
    'fipsconfig csr mail-tls mail.example.com',
    'exit',
  ]);
  const csr = csrSession.output.match(/-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/)?.[0];
  t.ok(csr, 'the console prints the CSR');
  const ca = testCa(token, 'Site CA');
  const certificate = ca.sign(csr ?? '');
  const bad = await consoleSession(token, ['fipsconfig', officerPassword, 'fipsconfig import mail-tls', 'this is not a certificate', '.', 'fipsconfig certs', 'exit']);
  t.match(bad.output, /Paste the certificate for key "mail-tls" and its chain in PEM format/);
  t.match(bad.output, /is not the certificate for key "mail-tls" and its chain in PEM format[^\n]*nothing was changed/);
  t.match(bad.output, /no certificates/, 'nothing was imported');
  const good = await consoleSession(token, [
    'fipsconfig',
    officerPassword,
    'fipsconfig import mail-tls',
    ...certificate.trim().split('\n'),
    '.',
    'certconfig trust new site-ca pem=-',
    ...ca.pem.trim().split('\n'),
    '.',
    'exit',
  ]);
  t.match(good.output, /Certificate [^\n]*mail\.example\.com[^\n]* imported next to key "mail-tls"/);
  t.match(good.output, /Committed as revision \d+/, 'the pasted trusted CA was committed (FIPS mode commits)');
  const fingerprint = (pem: string) => execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' });
  const storedPem = execFileSync('openssl', ['x509', '-inform', 'DER'], {
    input: execFileSync('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--read-object', '--type', 'cert', '--label', 'mail-tls'], { env: token.env }),
    encoding: 'utf8',
  });
  t.equal(fingerprint(storedPem), fingerprint(certificate), 'the HSM holds the CA-signed certificate');
  const trusted = token.runtime.store.committed().config.certificates.trustStore.find((entry) => entry.name === 'site-ca');
  t.equal(trusted && fingerprint(trusted.pem), fingerprint(ca.pem), 'the pasted CA is in the committed trust store');
});

t.test("version shows the image's firmware version, or says it is a development build", async (t) => {
  const token = await blankToken(t);
  const versionFile = join(token.root, 'appliance-version');
  writeFileSync(versionFile, '0.1.0+202601010000\n');
  const image = await consoleSession({ ...token, env: { ...token.env, APPLIANCE_VERSION_FILE: versionFile } }, [], ['version']);
  t.match(image.output, /^Appliance firmware 0\.1\.0\+202601010000$/m);
  t.match(image.output, /^HSM: softhsm2, token "appliance"/m);
  t.match(image.output, /^Self-test: unknown \(the gateway service is not running\)$/m);
  const development = await consoleSession({ ...token, env: { ...token.env, APPLIANCE_VERSION_FILE: join(token.root, 'no-such-file') } }, [], ['version']);
  t.match(development.output, /^Appliance firmware \d+\.\d+\.\d+ \(development build, not an image\)$/m);
});
