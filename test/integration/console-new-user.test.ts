// The console as a new user meets it, on a fresh state with piped input (as a script
// or `ssh admin@host < commands` gives it): the session sees its own commits, help and
// errors say what is true and what to do, missing keys fail instead of eating the next
// line, each feature's rules run at commit, and the self-test follows FIPS
// initialisation. Against the real gateway service, slapd and SoftHSM2.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { pipedConsole, startService } from '../helpers/services.js';
import { baseDn, Slapd, serviceDn, servicePassword } from '../helpers/slapd.js';
import { blankToken, officerPassword } from '../helpers/softhsm.js';
import { TestCa } from '../helpers/test-ca.js';

const root = t;
const token = await blankToken(t);
const env = { ...token.env, APPLIANCE_USER: 'admin', LOG_LEVEL: 'warn' };
const consoleRun = (lines: string[]) => pipedConsole(env, lines);
/** Runs for the rest of the file (the later subtests use it too). */
const startGatewayService = (t: Test) => startService(t, root, env, 'gateway', 'mail/gateway-service.js');

t.test('FIPS initialisation reruns the self-test: no stale "self-test failed" until the next commit', async (t) => {
  await startGatewayService(t);
  const before = await consoleRun(['version']);
  t.match(before, /Self-test: HSM error: power-on self-test failed: the HSM is not initialised: there is no crypto-user PIN yet \(run "fipsconfig init"\)/, before);
  t.notMatch(before, /ENOENT/, 'no raw system error');
  const output = await consoleRun([
    'fipsconfig init',
    officerPassword,
    officerPassword,
    'fipsconfig',
    officerPassword,
    'fipsconfig keygen gateway-tls ec-p256',
    'fipsconfig status',
    'fipsconfig exit',
    'version',
  ]);
  t.match(output, /The HSM is initialised[^\n]*\nSelf-test: HSM ready/, output);
  t.notMatch(output, /self-test failed/, 'neither fipsconfig status nor version says the self-test failed');
  t.match(output, /fipsconfig status[\s\S]*Self-test: HSM ready[\s\S]*> version[\s\S]*Self-test: HSM ready/);
});

t.test('a session sees what it has just committed: crlconfig fetch, tail and findevent', async (t) => {
  const output = await consoleRun([
    'crlconfig source new s1 fileType=pem primaryUrl=http://127.0.0.1:9/x.pem schedule=hourly:05',
    'logconfig new audit2 cli-audit',
    'commit',
    'crlconfig fetch s1',
    'tail audit2',
    'findevent mid 1 audit2',
  ]);
  t.notMatch(output, /none yet/, output);
  t.notMatch(output, /no log subscription "audit2"/);
  t.match(output, /Downloading CRL source s1/, 'the fetch runs in the gateway');
  t.match(
    output,
    /the download was refused, and source s1 has no good CRL yet: certificates of its issuer are handled as whenIssuerHasNoCrl says \(\w+\)\. Correct the source/,
    'a source that never downloaded does not claim a last good CRL',
  );
  t.notMatch(output, /the last good CRL stays in use/);
});

t.test('help shows each usage once, and the keys a new item takes', async (t) => {
  const list = await consoleRun(['help']);
  const names = [...list.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]!);
  t.ok(names.length > 15, `help lists the commands (${names.length})`);
  const helps = await consoleRun(names.map((n) => `help ${n}`));
  for (const name of names) t.notMatch(helps, new RegExp(`usage: ${name} ${name}\\b`), `help ${name} does not double its name`);
  t.match(helps, /\nusage: status\n/, 'help status is "usage: status"');
  t.match(helps, /\nusage: commit \[confirmed MINUTES\] \[COMMENT…\]\n/);
  t.match(helps, /usage: listenerconfig list[^\n]*\n {7}listenerconfig policy PARENT list/, 'every form names the command');
  t.match(helps, /Keys of a new listener[^\n]*:\n(.*\n)*? {2}port: a number/, 'help listenerconfig shows the keys of a new listener');
  t.match(helps, /RELAYLIST sender group, policy RELAYED: none until it has entries/, "a listener's help says what RELAYED is for and that it starts empty");
  const fields = await consoleRun(['ldapconfig server fields', 'ldapconfig query fields certificate']);
  t.match(fields, /Keys of a new LDAP server profile \(required: [^)]*hosts[^)]*\)/, 'fields before the item exists');
  t.match(fields, /Keys of a new LDAP query of type certificate[^\n]*\n(.*\n)*? {2}queryString: text/);
});

t.test('piped input: a missing key fails and lists what is missing; the next line stays a command', async (t) => {
  const output = await consoleRun(['ldapconfig server new corp', 'status']);
  t.match(output, /a new LDAP server profile needs hosts=… \(a comma-separated list of text\)[^\n]*; nothing was added/, output);
  t.match(output, /> status\nHostname: /, 'the next line ran as a command, not as the value of a key');
  t.notMatch(output, /pending changes\)>/, 'nothing was added to the pending changes');
});

t.test('a private listener says it relays for nobody yet; a value with spaces shows its quoting', async (t) => {
  const output = await consoleRun([
    'listenerconfig new Outgoing private address=127.0.0.1 port=2599',
    'crlconfig source new s2 primaryUrl=http://127.0.0.1:9/y.crl schedule=cron:* * * * *',
    'clear',
  ]);
  t.match(
    output,
    /relays only for the addresses in its RELAYLIST sender group \(policy RELAYED\), which is empty: nothing relays until you add them, for example: listenerconfig hat Outgoing edit RELAYLIST entries=/,
  );
  t.match(output, /"\*" is not a setting; a value with spaces needs quotes around it: schedule="cron:\* \* \* \* \*"/, output);
});

t.test('each feature is checked at commit, not at first use', async (t) => {
  const route = await consoleRun(['smtproutes new example.net hosts="bad host name:25:1"', 'commit', 'smtproutes list']);
  t.match(route, /routes\.smtpRoutes\.0\.hosts\.0\.host: must be a host name or an IP address/, route);
  t.match(route, /no SMTP routes/, 'nothing was committed');

  const query = await consoleRun([
    `ldapconfig server new corp hosts=127.0.0.1 port=389 bindDn=${serviceDn} bindPassword=x baseDn=${baseDn}`,
    'ldapconfig query new cac certificate server=corp fields=cn queryString=(&(caccn={cn})(cacserial={sn}))',
    'ldapconfig query new odd certificate server=corp fields=cn queryString=(caccn={nickname})',
    'commit',
    'history 1',
  ]);
  t.match(query, /commit refused, nothing was changed:\n\s+- ldap\.queries\.0\.queryString: \{sn\} is not among the query's fields \(cn\): add sn to fields/, query);
  t.match(query, /ldap\.queries\.1\.queryString: \{nickname\} is not available here/, 'an unknown placeholder too');
  t.notMatch(query, /via local {2}\S*\s*$/m, 'no revision was made');
  t.notMatch(await consoleRun(['ldapconfig query list']), /cac/, 'the refused commit left nothing behind');
});

t.test('ldapconfig test binds with the password and says what the allowance query decides', async (t) => {
  const slapd = await Slapd.start(t, {
    ca: new TestCa({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' }),
    users: [
      { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN' },
      { uid: 'amy', password: 'Amy-Pass-1' },
    ],
  });
  const setup = await consoleRun([
    `ldapconfig server new dir hosts=${slapd.host} port=${slapd.port} security=none bindDn=${serviceDn} bindPassword=${servicePassword} baseDn=${baseDn}`,
    'ldapconfig query new auth smtp-auth server=dir queryString=(uid={u}) allowanceQueryString=(&(uid={u})(!(caccn=*)))',
    'commit directory',
  ]);
  t.match(setup, /Committed revision/, setup);
  const output = await consoleRun([
    'ldapconfig test auth user=amy password',
    'Amy-Pass-1',
    'ldapconfig test auth user=amy password',
    'wrong-password',
    'ldapconfig test auth user=jdoe password',
    'John-Pass-1',
    'ldapconfig test auth user=jdoe',
    'ldapconfig test auth user=amy Amy-Pass-1',
  ]);
  t.match(output, /Result: credentials valid; allowance query allows SMTP AUTH/, output);
  t.match(output, /Result: credentials refused: the directory refused the password \(LDAP bind\)/, 'a wrong password: the bind fails');
  t.match(output, /Result: credentials valid; allowance query does not allow SMTP AUTH/, 'jdoe has a CAC: the allowance query refuses');
  t.match(output, /Result: 1 user entries found; allowance query does not allow SMTP AUTH; no bind was made/, 'without a password: no bind, and still the allowance verdict');
  t.match(output, /"Amy-Pass-1" is not understood: to check a password write the word "password"/, 'a password typed as a bare word is refused, not ignored');
});
