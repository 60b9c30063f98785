// The console's command lines and files: one-shot lines filtered like typed ones, the
// configuration folder refusing links and paths, and nothing world-readable.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigurationFolder } from '../../src/os/configuration-folder.js';
import { compiled, tempState } from '../helpers/state.js';

const consoleJs = compiled('fipsconsole/console.js');

function run(root: string, args: string[], env: NodeJS.ProcessEnv = {}, input = '') {
  return spawnSync(process.execPath, [consoleJs, ...args], { env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', ...env }, encoding: 'utf8', input });
}

t.test('a command line from SSH or argv goes through the control-character filter and the length limit', async (t) => {
  const root = tempState(t);
  const bell = run(root, [], { SSH_ORIGINAL_COMMAND: 'his\u0007tory' });
  t.equal(bell.status, 0, bell.stdout);
  t.match(bell.stdout, /^\s+1 {2}\S+ {2}system via system {2}factory configuration$/m, 'the BEL is dropped, so "history" runs');
  const osc = run(root, [], { SSH_ORIGINAL_COMMAND: 'status\u001b]0;owned\u0007; tail cli_logs' });
  t.notOk(osc.stdout.includes('\u001b'), 'no escape sequence reaches the terminal');
  t.match(osc.stdout, /unknown command "status\]0;owned"/);
  const argv = run(root, ['his\u001btory']);
  t.equal(argv.status, 0, 'argv words are filtered too');
  t.match(argv.stdout, /factory configuration/);
  const long = run(root, [], { SSH_ORIGINAL_COMMAND: `commit ${'x'.repeat(5000)}` });
  t.equal(long.status, 1);
  t.match(long.stdout, /The line is longer than 4096 characters and was ignored\./);
  const longArgv = run(root, ['commit', 'y'.repeat(5000)]);
  t.match(longArgv.stdout, /longer than 4096 characters/);
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.notOk(
    [...audit].some((c) => c !== '\n' && (c < ' ' || c === '\u007f')),
    'the audit log holds no control character',
  );
  t.notMatch(audit, /xxxxx/, 'the overlong line never ran');
});

t.test('the configuration folder refuses links and paths, reading and writing', async (t) => {
  const root = tempState(t);
  const folder = join(root, 'configuration');
  const outside = join(root, 'outside');
  mkdirSync(folder, { recursive: true });
  mkdirSync(outside);
  t.match(run(root, ['saveconfig', 'good.xml']).stdout, /Saved revision 1/);
  writeFileSync(join(outside, 'planted.xml'), readFileSync(join(folder, 'good.xml'), 'utf8').replace('appliance.localdomain', 'planted.example.com'));
  symlinkSync(join(outside, 'planted.xml'), join(folder, 'link.xml'));
  const load = run(root, ['loadconfig link.xml; commit']);
  t.match(load.stdout, /link\.xml in the configuration folder is a symbolic link, which is refused/);
  t.match(run(root, ['status']).stdout, /Hostname: appliance\.localdomain/, 'nothing was loaded');

  writeFileSync(join(outside, 'victim.xml'), 'keep me');
  symlinkSync(join(outside, 'victim.xml'), join(folder, 'out.xml'));
  t.match(run(root, ['saveconfig', 'out.xml']).stdout, /out\.xml in the configuration folder is a symbolic link, which is refused/);
  t.equal(readFileSync(join(outside, 'victim.xml'), 'utf8'), 'keep me', 'the file the link points at is untouched');
  t.ok(lstatSync(join(folder, 'out.xml')).isSymbolicLink(), 'and the link was not replaced behind the refusal');

  // The durable write's temporary has a predictable name: a link planted there is refused, not written through.
  symlinkSync(join(outside, 'victim.xml'), join(folder, `.planted.xml.${process.pid}.tmp`));
  t.throws(() => new ConfigurationFolder(folder).write('planted.xml', 'overwritten'), /ELOOP/);
  t.equal(readFileSync(join(outside, 'victim.xml'), 'utf8'), 'keep me');
  t.notOk(existsSync(join(folder, 'planted.xml')));

  symlinkSync(join(outside, 'victim.xml'), join(folder, 'report.csv'));
  t.match(run(root, ['authreport', 'day', 'user', 'csv', 'report.csv']).stdout, /symbolic link, which is refused/);
  t.equal(readFileSync(join(outside, 'victim.xml'), 'utf8'), 'keep me');
  for (const name of ['../outside/report.csv', '/tmp/report.csv', '..', 'report.txt']) {
    t.match(run(root, ['authreport', 'day', 'user', 'csv', name]).stdout, /is not a file name in the configuration folder/, `authreport csv ${name} is refused`);
  }
  t.notOk(existsSync(join(outside, 'report.csv')));
  t.match(run(root, ['authreport', 'day', 'user', 'csv', 'fine.csv']).stdout, /Report written to .*configuration\/fine\.csv/);

  writeFileSync(join(outside, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  symlinkSync(join(outside, 'ca.pem'), join(folder, 'ca.pem'));
  t.match(run(root, ['certconfig', 'trust', 'new', 'ca', 'pem=@ca.pem']).stdout, /ca\.pem in the configuration folder is a symbolic link, which is refused/, 'pem=@FILE too');
  t.match(run(root, ['certconfig', 'trust', 'new', 'ca', 'pem=@../outside/ca.pem']).stdout, /is not a file name in the configuration folder/);

  symlinkSync(join(outside, 'victim.xml'), join(folder, 'bundle.tar'));
  t.match(run(root, ['upgrade', 'bundle.tar', 'now']).stdout, /bundle\.tar in the configuration folder is a symbolic link, which is refused/, 'an upgrade bundle too');

  const direct = new ConfigurationFolder(folder);
  t.throws(() => direct.read('sub/x.xml'), /is not a file name/);
  mkdirSync(join(folder, 'fifo-like'));
  t.throws(() => direct.read('fifo-like'), /is not a regular file/);
  const linkedFolder = join(root, 'linked-configuration');
  symlinkSync(outside, linkedFolder);
  t.throws(() => new ConfigurationFolder(linkedFolder).read('victim.xml'), /is not a folder \(a link is refused\)/, 'the folder itself may not be a link');
});

t.test('what the console writes is not readable by other accounts, whatever umask it is started with', async (t) => {
  const root = tempState(t);
  const previous = process.umask(0o022);
  try {
    const made = run(root, ['saveconfig modes.xml; authreport day user csv modes.csv']);
    t.equal(made.status, 0, made.stdout);
  } finally {
    process.umask(previous);
  }
  const privateToUs = (path: string) => t.equal(statSync(path).mode & 0o077, 0, `${path.slice(root.length)} is ${(statSync(path).mode & 0o777).toString(8)}`);
  privateToUs(join(root, 'logs', 'cli_logs'));
  privateToUs(join(root, 'logs', 'cli_logs', 'cli_logs.current'));
  privateToUs(join(root, 'configuration', 'modes.xml'));
  privateToUs(join(root, 'configuration', 'modes.csv'));
  privateToUs(join(root, 'reports'));
  privateToUs(join(root, 'reports', 'smtp-auth.sqlite'));
  privateToUs(join(root, 'config', 'committed.json'));
});
