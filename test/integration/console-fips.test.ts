// FIPS management mode and the settings commands, driven as an administrator
// drives them: the console process with its answers on standard input.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { blankToken, officerPassword, pkcs11Tool, type TestToken } from '../helpers/softhsm.js';
import { compiled } from '../helpers/state.js';

const consoleJs = compiled('fipsconsole/console.js');

/** Runs the console with `lines` as the administrator's input; resolves with its output and exit code. */
function consoleSession(token: TestToken, lines: string[], args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [consoleJs, ...args], { env: { ...token.env, APPLIANCE_USER: 'officer1', SSH_CONNECTION: '192.0.2.44 50000 192.0.2.1 22' } });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

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
