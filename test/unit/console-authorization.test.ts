// Who may commit what, and who sees secrets, through the real console as each user.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { factoryConfig } from '../../src/os/config/factory.js';
import { ConfigStore } from '../../src/os/config/store.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { configToXml } from '../../src/os/config/xml.js';
import { hashPassword } from '../../src/os/users.js';
import { sampleConfig } from '../helpers/configs.js';
import { compiled, tempState } from '../helpers/state.js';

const consoleJs = compiled('fipsconsole/console.js');
const bindSecret = 'Bind-Secret-42x';

function session(root: string, user: string, lines: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [consoleJs], {
      env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: user, SSH_CONNECTION: '192.0.2.7 5000 192.0.2.1 22', ...env },
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(`${[...lines, 'exit', 'y'].join('\n')}\n`);
  });
}

const committed = (root: string) =>
  JSON.parse(readFileSync(join(root, 'config', 'committed.json'), 'utf8')) as { meta: { revision: number }; config: ReturnType<typeof sampleConfig> };

/**
 * Revision 1 the factory configuration (no account: every login an admin), revision 2
 * the sample mail configuration with a bind password and three accounts, revision 3 a
 * comment that carries the bind password as FIPS management mode writes one.
 */
async function appliance(t: Test): Promise<string> {
  const root = tempState(t);
  mkdirSync(join(root, 'configuration'), { mode: 0o700 });
  const store = new ConfigStore(join(root, 'config'));
  await store.initialise(factoryConfig());
  const config = sampleConfig();
  config.ldap.servers[0]!.bindPassword = bindSecret;
  config.users = [
    { name: 'root1', fullName: '', role: 'admin', passwordHash: hashPassword('Root-Password-1'), sshPublicKeys: [] },
    { name: 'op1', fullName: '', role: 'operator', passwordHash: hashPassword('Oper-Password-1'), sshPublicKeys: [] },
    { name: 'ro1', fullName: '', role: 'read-only', passwordHash: hashPassword('Read-Password-1'), sshPublicKeys: [] },
  ];
  await store.commit(config, { user: 'setup', source: 'local', baseRevision: 1, comment: 'accounts and mail' });
  const next = structuredClone(config);
  next.ldap.servers[0]!.bindDn = 'cn=gateway,dc=example,dc=com';
  await store.commit(next, { user: 'root1', source: 'local', baseRevision: 2, comment: `FIPS management mode: ldapconfig server edit corp bindPassword=${bindSecret}` });
  return root;
}

t.test('an operator cannot roll back to the factory configuration, load a file without accounts, or touch accounts', async (t) => {
  const root = await appliance(t);
  const rollback = await session(root, 'op1', ['rollback 1', 'commit back to factory']);
  t.match(rollback.output, /Loaded revision 1/, 'rollback only fills the candidate');
  t.match(rollback.output, /commit refused, nothing was changed: your role \(operator\) may not change user accounts \(roles, passwords, SSH keys\)/);
  t.equal(committed(root).meta.revision, 3, 'nothing was committed');

  writeFileSync(join(root, 'configuration', 'no-accounts.xml'), configToXml(parseConfig(factoryConfig()), { hostname: 'h', revision: 1 }));
  const load = await session(root, 'op1', ['loadconfig no-accounts.xml', 'commit']);
  t.match(load.output, /Loaded .*no-accounts\.xml/, 'loadconfig fills the candidate');
  t.match(load.output, /commit refused, nothing was changed: your role \(operator\) may not change user accounts/);
  t.equal(committed(root).meta.revision, 3);
  t.equal(committed(root).config.users.length, 3, 'every account is still there');

  const oneShot = await session(root, 'op1', [], { SSH_ORIGINAL_COMMAND: 'rollback 1; commit' });
  t.equal(oneShot.code, 1, 'a one-shot command line fails');
  t.match(oneShot.output, /commit refused/);

  const exported = await session(root, 'op1', ['saveconfig out.xml secrets=encrypted', 'Operator-Chosen-Pass', 'Operator-Chosen-Pass', 'saveconfig masked.xml']);
  t.match(exported.output, /your role \(operator\) may save the configuration with its secrets masked only; secrets=encrypted needs an admin/);
  t.match(exported.output, /Saved revision 3 to .*masked\.xml \(secrets masked\)/, 'but may save it masked');
  t.notOk(existsSync(join(root, 'configuration', 'out.xml')), 'no file with the secrets was written');

  const listener = await session(root, 'op1', ['listenerconfig edit OutgoingMail port=2600', 'commit new port']);
  t.match(listener.output, /Committed revision 4/, 'an operator still commits a listener change');
  t.equal(committed(root).config.listeners[0]!.port, 2600);
});

t.test('an operator cannot delete, rename or silence the audit log; an admin cannot delete the last admin', async (t) => {
  const root = await appliance(t);
  const attempts = await session(root, 'op1', [
    'logconfig delete cli_logs',
    'commit',
    'clear',
    'logconfig edit cli_logs level=critical',
    'commit',
    'clear',
    'logconfig rename cli_logs quiet_logs',
    'commit',
    'clear',
    'logconfig edit cli_logs maxFiles=1 maxFileBytes=1024',
    'commit',
    'clear',
    'logconfig delete authentication',
    'commit',
  ]);
  t.equal(attempts.output.match(/may not change the audit trail/g)?.length, 5, attempts.output);
  const logs = committed(root).config.logs.subscriptions;
  t.same(
    logs.filter((s) => s.type === 'cli-audit').map((s) => [s.name, s.level, s.maxFiles]),
    [['cli_logs', 'info', 10]],
  );
  t.ok(
    logs.some((s) => s.name === 'authentication'),
    'the login log is kept',
  );
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.match(audit, /User op1 \(ssh 192\.0\.2\.7\) ran: logconfig delete cli_logs/, 'and the attempt itself is in the audit log');

  const lastAdmin = await session(root, 'root1', ['userconfig delete root1', 'commit', 'clear', 'userconfig edit root1 role=operator', 'commit']);
  t.equal(lastAdmin.output.match(/no admin account/g)?.length, 2, lastAdmin.output);
  t.equal(committed(root).config.users.find((u) => u.name === 'root1')?.role, 'admin');
  const everyone = await session(root, 'root1', ['rollback 1', 'commit']);
  t.match(everyone.output, /removes every account, and with no account every login is an admin/, 'not even an admin goes back to no accounts');
  t.equal(committed(root).meta.revision, 3);
});

t.test('nobody sees a secret: showconfig, diff, diff N, history and show mask it, read-only included', async (t) => {
  const root = await appliance(t);
  const looks = await session(root, 'ro1', [
    'showconfig',
    'showconfig ldap',
    'showconfig users',
    'diff 2',
    'diff 3',
    'history',
    'ldapconfig server show corp',
    'userconfig show root1',
  ]);
  t.notMatch(looks.output, bindSecret, 'the bind password is never shown');
  t.notMatch(looks.output, /scrypt\$/, 'nor a password hash');
  t.match(looks.output, /"bindPassword": "\*\*\*\*\*"/, 'it shows as masked');
  t.match(looks.output, /"passwordHash": "\*\*\*\*\*"/);
  t.match(looks.output, /\+\s+"bindPassword": "\*\*\*\*\* \(changed\)"/, 'diff 2 still tells that the secret changed');
  t.match(looks.output, /FIPS management mode: ldapconfig server edit corp bindPassword=\*\*\*\*\*/, 'history masks the secret in a comment');

  const pending = await session(root, 'root1', ['ldapconfig server edit corp bindPassword=Pending-Secret-7', 'diff', 'status']);
  t.equal(pending.output.split('Pending-Secret-7').length - 1, 1, 'only the echo of the typed line holds it, not the diff');
  t.match(pending.output, /"bindPassword": "\*\*\*\*\* \(changed\)"/);
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.notMatch(audit, 'Pending-Secret-7', 'the audit log masks it too');
});

t.test('saveconfig masks secrets; loadconfig of a masked file keeps them; secrets=encrypted keeps them under a passphrase', async (t) => {
  const root = await appliance(t);
  const saved = await session(root, 'root1', ['saveconfig masked.xml']);
  t.match(saved.output, /Saved revision 3 to .*masked\.xml \(secrets masked\)/);
  const masked = readFileSync(join(root, 'configuration', 'masked.xml'), 'utf8');
  t.notMatch(masked, bindSecret);
  t.notMatch(masked, /scrypt\$/, 'no password hash leaves the appliance');
  t.match(masked, /<bindPassword type="masked"\/>/);

  writeFileSync(join(root, 'configuration', 'masked.xml'), masked.replace('<hostname>mail.example.com</hostname>', '<hostname>renamed.example.com</hostname>'));
  const loaded = await session(root, 'root1', ['loadconfig masked.xml', 'commit from the masked file']);
  t.match(loaded.output, /Masked in the file, kept as configured here: .*ldap\.servers\.0\.bindPassword/);
  t.match(loaded.output, /Committed revision 4/);
  t.equal(committed(root).config.system.hostname, 'renamed.example.com');
  t.equal(committed(root).config.ldap.servers[0]!.bindPassword, bindSecret, 'the configured bind password is kept');
  t.match(committed(root).config.users[0]!.passwordHash, /^scrypt\$/, 'and the password hashes');

  const passphrase = 'Correct-Horse-Battery-9';
  const encrypted = await session(root, 'root1', ['saveconfig sealed.xml secrets=encrypted', passphrase, passphrase]);
  t.match(encrypted.output, /\(secrets encrypted under the passphrase\)/, encrypted.output);
  const sealed = readFileSync(join(root, 'configuration', 'sealed.xml'), 'utf8');
  t.notMatch(sealed, bindSecret);
  t.match(sealed, /<bindPassword type="encrypted">[A-Za-z0-9+/=]+<\/bindPassword>/);

  await session(root, 'root1', ['ldapconfig server edit corp bindPassword=Changed-Secret-5', 'commit changed']);
  t.equal(committed(root).config.ldap.servers[0]!.bindPassword, 'Changed-Secret-5');
  const wrong = await session(root, 'root1', ['loadconfig sealed.xml', 'Wrong-Passphrase-1', 'commit']);
  t.match(wrong.output, /the passphrase is wrong: it is not the one the file was saved with\. Nothing was loaded/);
  t.match(wrong.output, /There are no changes to commit/);
  const right = await session(root, 'root1', ['loadconfig sealed.xml', passphrase, 'commit restored']);
  t.match(right.output, /Committed revision \d+/, right.output);
  t.equal(committed(root).config.ldap.servers[0]!.bindPassword, bindSecret, 'the encrypted secret came back');
  const audit = readFileSync(join(root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.notMatch(audit, passphrase, 'the passphrase is never logged');

  const short = await session(root, 'root1', ['saveconfig short.xml secrets=encrypted', 'short', 'short']);
  t.match(short.output, /the passphrase needs at least 12 characters; nothing was saved/);
  const mismatch = await session(root, 'root1', ['saveconfig other.xml secrets=plain']);
  t.match(mismatch.output, /secrets= is masked .* or encrypted/);
});

t.test('a masked file on an appliance without those secrets is refused, saying what to do', async (t) => {
  const root = await appliance(t);
  const config = sampleConfig();
  config.ldap.servers[0]!.name = 'elsewhere';
  config.ldap.queries = [];
  config.smtpAuth.profiles = [];
  delete config.listeners[0]!.smtpAuthProfile;
  config.ldap.servers[0]!.bindPassword = 'Unknown-Secret-3';
  config.users = committed(root).config.users;
  writeFileSync(join(root, 'configuration', 'foreign.xml'), configToXml(config, { hostname: 'h', revision: 9 }));
  const loaded = await session(root, 'root1', ['loadconfig foreign.xml']);
  t.match(loaded.output, /this appliance has none to keep at ldap\.servers\.0\.bindPassword: save the file with "saveconfig FILE secrets=encrypted"/);
});
