import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { splitCommandLine, splitSequence } from '../../src/fipsconsole/words.js';
import { compiled, tempState } from '../helpers/state.js';

const consoleJs = compiled('fipsconsole/console.js');

function run(root: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [consoleJs, ...args], { env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', ...env }, encoding: 'utf8', input: '' });
}

t.test('words: quotes group, nothing is expanded', async (t) => {
  t.same(splitCommandLine(`commit "first  change" $(reboot) *`), ['commit', 'first  change', '$(reboot)', '*']);
  t.same(splitSequence(splitCommandLine('loadconfig a.xml; commit restored')), [
    ['loadconfig', 'a.xml'],
    ['commit', 'restored'],
  ]);
  t.throws(() => splitCommandLine('commit "oops'), /unterminated double quote/);
});

t.test('save, change, load and commit from ssh command lines', async (t) => {
  const root = tempState(t);
  t.match(run(root, ['saveconfig', 'factory.xml']).stdout, /Saved revision 1 to .*configuration\/factory\.xml/);
  const saved = join(root, 'configuration', 'factory.xml');
  writeFileSync(saved, readFileSync(saved, 'utf8').replace('<hostname>appliance.localdomain<', '<hostname>restored.example.com<'));
  const loaded = run(root, [], { SSH_ORIGINAL_COMMAND: 'loadconfig factory.xml; commit "restore from file"', SSH_CONNECTION: '203.0.113.5 50000 10.0.0.1 22' });
  t.equal(loaded.status, 0, loaded.stdout);
  t.match(loaded.stdout, /Committed revision 2/);
  const history = run(root, ['history']).stdout;
  t.match(history, /^\s+2 {2}\S+ {2}admin via ssh \(203\.0\.113\.5\) {2}restore from file$/m, 'the revision records user, source, client IP and comment');
  t.match(run(root, ['status']).stdout, /Hostname: restored\.example\.com/);
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.match(audit, /User admin \(ssh 203\.0\.113\.5\) ran: commit restore from file/);
});

t.test('a bad file is refused with its reason and nothing changes', async (t) => {
  const root = tempState(t);
  run(root, ['saveconfig', 'good.xml']);
  const path = join(root, 'configuration', 'good.xml');
  writeFileSync(path, readFileSync(path, 'utf8').replace('<timezone>UTC</timezone>', '<timezone type="number">x</timezone>'));
  const result = run(root, ['loadconfig good.xml; commit']);
  t.equal(result.status, 1);
  t.match(result.stdout, /system\.timezone: "x" is not a number/);
  t.match(run(root, ['history']).stdout.trim().split('\n').length, 1, 'still only the factory revision');
  t.match(run(root, ['loadconfig', '../../etc/passwd']).stdout, /is not a file name in the configuration folder/, 'no path outside the configuration folder');
  t.match(run(root, ['sh']).stdout, /unknown command "sh"/, 'there is no way to a shell');
});

t.test('interactive: the prompt shows pending changes, exit with them asks first', async (t) => {
  const root = tempState(t);
  run(root, ['saveconfig', 'a.xml']);
  const path = join(root, 'configuration', 'a.xml');
  writeFileSync(path, readFileSync(path, 'utf8').replace('<hostname>appliance.localdomain<', '<hostname>pending.example.com<'));
  const child = spawn(process.execPath, [consoleJs], { env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin' } });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + 10_000;
    while (!pattern.test(out)) {
      if (Date.now() > deadline) throw new Error(`never saw ${pattern} in:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor(/appliance\.localdomain> $/);
  child.stdin.write('loadconfig a.xml\n');
  await waitFor(/appliance\.localdomain \(pending changes\)> $/);
  child.stdin.write('exit\n');
  await waitFor(/uncommitted changes\. Discard them and exit\? \[N\]> $/);
  child.stdin.write('n\n');
  await waitFor(/\(pending changes\)> $/);
  child.stdin.write('commit confirmed 5 try the new name\n');
  await waitFor(/Run "commit" again within 5 minute\(s\)/);
  await waitFor(/pending\.example\.com> $/);
  child.stdin.write('commit\n');
  await waitFor(/Confirmed revision 2: it stays the running configuration\.\n/);
  child.stdin.end('exit\n');
  t.equal(await new Promise((r) => child.on('exit', r)), 0);
  t.notOk(existsSync(join(root, 'config', 'confirm.json')), 'the second commit confirmed the first');
});

function session(root: string, lines: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [consoleJs], { env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', ...env } });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => resolve({ code, output, ms: Date.now() - started }));
    if (lines.length) child.stdin.end(`${lines.join('\n')}\n`);
  });
}

t.test('roles: operators cannot manage users, read-only accounts only look, strangers are read-only once accounts exist', async (t) => {
  const root = tempState(t);
  const setup = await session(root, [
    'userconfig new admin role=admin',
    'Admin-Password-1',
    'Admin-Password-1',
    'userconfig new alice role=operator',
    'Alice-Password-1',
    'Alice-Password-1',
    'userconfig new rick role=read-only',
    'Rick-Password-22',
    'Rick-Password-22',
    'userconfig new weak role=admin',
    'short',
    'commit accounts',
    'userconfig show alice',
    'exit',
  ]);
  t.match(setup.output, /Committed revision 2/, setup.output);
  t.match(setup.output, /the password needs at least 10 characters/);
  t.match(setup.output, /"passwordHash": "\*\*\*\*\*"/, 'show masks the hash');
  const committed = readFileSync(join(root, 'config', 'committed.json'), 'utf8');
  t.match(committed, /"passwordHash": "scrypt\$/, 'only a scrypt hash is kept');
  t.notMatch(committed, /Alice-Password-1/, 'never the password');

  const alice = await session(
    root,
    ['userconfig new mallory role=admin', 'Mallory-Password-1', 'Mallory-Password-1', 'commit mallory', 'clear', 'systemconfig edit timezone=Europe/Paris', 'commit tz', 'exit'],
    { APPLIANCE_USER: 'alice' },
  );
  t.match(alice.output, /commit refused, nothing was changed: your role \(operator\) may not change user accounts/, 'the commit judges the change, not the command');
  t.match(alice.output, /Committed revision 3/, 'an operator changes settings');
  t.notMatch(readFileSync(join(root, 'config', 'committed.json'), 'utf8'), /mallory/);

  const rick = await session(root, ['systemconfig edit timezone=UTC', 'history 1', 'listenerconfig list', 'exit'], { APPLIANCE_USER: 'rick' });
  t.match(rick.output, /your role \(read-only\) may look but not change anything/);
  t.match(rick.output, /^\s+3 {2}/m, 'but may look');

  const stranger = await session(root, ['commit', 'exit'], { APPLIANCE_USER: 'eve' });
  t.match(stranger.output, /your role \(read-only\)/);
});

t.test('an idle session is closed after the configured time', async (t) => {
  const root = tempState(t);
  run(root, ['systemconfig edit sshIdleTimeoutSeconds=5; commit short idle timeout']);
  const child = spawn(process.execPath, [consoleJs], {
    env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', SSH_CONNECTION: '192.0.2.8 4000 192.0.2.1 22' },
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  const started = Date.now();
  const code = await new Promise((r) => child.on('exit', r));
  const seconds = (Date.now() - started) / 1000;
  t.equal(code, 0);
  t.match(output, /Idle timeout: closing the session/);
  t.ok(seconds >= 4.5 && seconds < 30, `closed after ${seconds.toFixed(1)} s`);
  t.match(readFileSync(join(root, 'logs', 'authentication', 'authentication.current'), 'utf8'), /User admin logout from 192\.0\.2\.8 via ssh/);
});

t.test('piped input or a command line: a missing key fails naming every one, and the next line stays a command', async (t) => {
  const root = tempState(t);
  const piped = await session(root, ['ldapconfig server new corp2', 'ldap.example.com', 'ldapconfig server list', 'exit', 'y']);
  t.match(piped.output, /a new LDAP server profile needs hosts=… \(a comma-separated list of text\), baseDn=… \(text\); nothing was added/);
  t.match(piped.output, /> ldap\.example\.com\nunknown command "ldap\.example\.com"/, 'the next line is read as a command, not as the value');
  t.match(piped.output, /> ldapconfig server list\n {2}no LDAP server profiles/);
  const batch = run(root, ['ldapconfig server new corp3 baseDn=dc=example,dc=com']);
  t.match(batch.stdout, /a new LDAP server profile needs hosts=… \(a comma-separated list of text\); nothing was added/);
});

/** C0 (but tab and newline), DEL and C1: what a terminal would act on. */
const controlIn = (text: string) => [...text].some((c) => c !== '\t' && c !== '\n' && (c < ' ' || (c >= '\u007f' && c <= '\u009f')));

t.test('an SSH command line goes through the same filter as a typed line: no control characters, no overlong line', async (t) => {
  const root = tempState(t);
  const hostile = run(root, [], { SSH_ORIGINAL_COMMAND: 'history\u001b]0;owned\u0007 1; status\u009b2J\u0001', SSH_CONNECTION: '203.0.113.9 50000 10.0.0.1 22' });
  t.notOk(controlIn(hostile.stdout), 'nothing a terminal would act on is echoed back');
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.match(audit, /ran: history\]0;owned 1/, 'the audit line records the command without its control characters');
  t.notOk(controlIn(audit), 'nor written to the audit log');
  const long = run(root, [], { SSH_ORIGINAL_COMMAND: `status ${'x'.repeat(5000)}` });
  t.match(long.stdout, /longer than 4096 characters and was ignored/);
  t.equal(long.status, 1);
  const argv = run(root, ['status\u001b[2J']);
  t.notOk(controlIn(argv.stdout), 'command-line arguments are filtered too');
});
