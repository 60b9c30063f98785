// The console on a real pseudo-terminal (util-linux `script` gives it one), as
// an administrator's terminal drives it: tab completion, no echo for secrets,
// Ctrl-Z that suspends nothing, Ctrl-C that ends the session.
import { spawn } from 'node:child_process';
import t from 'tap';
import { compiled, tempState } from '../helpers/state.js';

function terminal(root: string) {
  const child = spawn('script', ['-qfec', `${process.execPath} ${compiled('fipsconsole/console.js')}`, '/dev/null'], {
    env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', TERM: 'xterm' },
  });
  let screen = '';
  child.stdout.on('data', (d) => {
    screen += d.toString();
  });
  const waitFor = async (pattern: RegExp, from = 0) => {
    const deadline = Date.now() + 15_000;
    while (!pattern.test(screen.slice(from))) {
      if (Date.now() > deadline) throw new Error(`never saw ${pattern} in:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  return { child, waitFor, exited, screen: () => screen };
}

t.test('tab completion, hidden secrets, Ctrl-Z and Ctrl-C on a terminal', async (t) => {
  const root = tempState(t);
  const term = terminal(root);
  t.teardown(() => term.child.kill());
  await term.waitFor(/appliance\.localdomain> $/);
  term.child.stdin.write('histo\t');
  await term.waitFor(/appliance\.localdomain> history/);
  term.child.stdin.write('\r');
  await term.waitFor(/factory configuration/);

  let mark = term.screen().length;
  term.child.stdin.write('userconfig new alice role=operator\r');
  await term.waitFor(/New password for alice: $/, mark);
  term.child.stdin.write('Secret-Password-9\r');
  await term.waitFor(/Repeat the password: $/, mark);
  term.child.stdin.write('Secret-Password-9\r');
  await term.waitFor(/New user "alice" added/, mark);
  t.notMatch(term.screen(), /Secret-Password-9/, 'the password never appears on the screen');

  mark = term.screen().length;
  term.child.stdin.write('\x1a');
  term.child.stdin.write('status\r');
  await term.waitFor(/Running revision: 1/, mark);
  t.pass('Ctrl-Z suspended nothing: the next command ran in the same session');

  term.child.stdin.write('\x03');
  t.equal(await term.exited, 0, 'Ctrl-C ends the session');
  t.match(term.screen(), /Uncommitted changes discarded\. Session closed\./);
});

t.test('at a terminal, a command asks for the keys it is missing', async (t) => {
  const root = tempState(t);
  const term = terminal(root);
  t.teardown(() => term.child.kill());
  await term.waitFor(/appliance\.localdomain> $/);
  term.child.stdin.write('ldapconfig server new corp2\r');
  await term.waitFor(/LDAP server profile corp2: hosts \(a comma-separated list of text\)> $/);
  term.child.stdin.write('ldap.example.com\r');
  await term.waitFor(/LDAP server profile corp2: baseDn \(text\)> $/);
  term.child.stdin.write('dc=example,dc=com\r');
  await term.waitFor(/New LDAP server profile "corp2" added/);
  const mark = term.screen().length;
  term.child.stdin.write('ldapconfig server show corp2\r');
  await term.waitFor(/"hosts": \[\s+"ldap\.example\.com"\s+\]/, mark);
  term.child.stdin.write('clear\r');
  await term.waitFor(/Pending changes discarded/, mark);
  term.child.stdin.write('exit\r');
  t.equal(await term.exited, 0);
});
