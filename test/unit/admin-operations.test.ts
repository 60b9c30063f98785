// The administration core's CRL, LDAP Test Query, configuration-file, upgrade and
// system operations, as both front ends call them, against real parts: a SoftHSM2
// token, the gateway service (which holds the CRL sources), slapd, an HTTP server
// publishing a CRL made by openssl. Whatever changes something is refused to a
// read-only actor; secrets never come back.
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Actor } from '../../src/admin/actor.js';
import { candidateConfig, commitChanges, editChanges, pendingChanges } from '../../src/admin/changes.js';
import { configFileSecrets, listConfigFiles, loadConfig, saveConfig, showConfig } from '../../src/admin/config-files.js';
import { configurationStatus } from '../../src/admin/config-status.js';
import { crlSourceStatus, fetchCrlNow } from '../../src/admin/crl.js';
import { testLdapQuery } from '../../src/admin/ldap-test.js';
import { newUser } from '../../src/admin/settings.js';
import { firmwareInfo, recheckHsmInServices } from '../../src/admin/system.js';
import { upgradeFirmware } from '../../src/admin/upgrade.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';
import type { Runtime } from '../../src/os/runtime.js';
import { fileServer } from '../helpers/file-server.js';
import { startService } from '../helpers/services.js';
import { baseDn, ldapServerProfile, Slapd, servicePassword } from '../helpers/slapd.js';
import { blankToken } from '../helpers/softhsm.js';
import { tempState } from '../helpers/state.js';
import { TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const as = (role: Actor['role']): Actor => ({ user: `a-${role}`, role, source: 'web', from: '192.0.2.9' });
const [readOnly, operator, admin] = [as('read-only'), as('operator'), as('admin')];

async function change(runtime: Runtime, edit: (draft: ApplianceConfig) => void): Promise<void> {
  editChanges(runtime, admin, edit);
  await commitChanges(runtime, admin, { comment: 'test setup' });
}

/** Every file under `dir`, as text. */
function allText(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path, 'utf8'))
    .join('\n');
}

const configurationFiles = (root: string) => (existsSync(join(root, 'configuration')) ? readdirSync(join(root, 'configuration')) : []);

async function withDirectory(t: Test, root: string) {
  const slapd = await Slapd.start(t, {
    ca: new TestCa({ dir: join(tempState(t, 'ldap-ca-'), 'ca'), commonName: 'Directory CA' }),
    users: [{ uid: 'amy', password: 'Amy-Pass-1' }],
  });
  return { slapd, root };
}

t.test('a read-only actor is refused every operation that changes something, and nothing is left behind', async (t) => {
  const { runtime, root } = await blankToken(t);
  await change(runtime, (draft) => {
    draft.crl.sources.push({ name: 'root', fileType: 'asn1', primaryUrl: 'http://127.0.0.1:9/root.crl', schedule: { kind: 'daily', time: '03:00' } } as never);
  });
  await t.rejects(fetchCrlNow(runtime, readOnly, 'root'), { kind: 'forbidden', message: /read-only.*may not download a CRL now/ });
  t.throws(() => saveConfig(runtime, readOnly, 'copy.xml', { mode: 'masked' }), { kind: 'forbidden', message: /may not save the configuration/ });
  t.throws(() => saveConfig(runtime, operator, 'copy.xml', { mode: 'encrypted', passphrase: 'a long passphrase here' }), {
    kind: 'forbidden',
    message: /operator.*secrets encrypted.*needs an admin/,
  });
  t.same(configurationFiles(root), [], 'no file was written');
  saveConfig(runtime, operator, 'mine.xml', { mode: 'masked' });
  t.throws(() => loadConfig(runtime, readOnly, 'mine.xml'), { kind: 'forbidden', message: /may not change the configuration/ });
  t.notOk(pendingChanges(runtime, readOnly).pending, 'no pending changes were made');
  await t.rejects(upgradeFirmware(runtime, readOnly, 'bundle.tar'), { kind: 'forbidden', message: /may not upgrade the firmware/ });
  await t.rejects(upgradeFirmware(runtime, operator, 'bundle.tar'), { kind: 'forbidden', message: /needs an admin/ });
  await t.rejects(recheckHsmInServices(runtime, readOnly), { kind: 'forbidden', message: /may not use the HSM/ });

  // Looking is allowed to every role.
  t.match(await crlSourceStatus(runtime, readOnly), { checking: false, live: false, sources: [{ name: 'root', enabled: true, primaryUrl: 'http://127.0.0.1:9/root.crl' }] });
  t.match(configurationStatus(runtime, readOnly), { pending: false, running: { user: 'a-admin', comment: 'test setup' } });
  t.match(await firmwareInfo(runtime, readOnly), { version: /\S/, hsm: /token/, selfTest: /gateway service is not running/ });
  symlinkSync('/etc/passwd', join(root, 'configuration', 'planted.xml'));
  t.same(
    listConfigFiles(runtime, readOnly).map((f) => f.name),
    ['mine.xml'],
    'the folder lists its files, not a planted link',
  );
  t.throws(() => loadConfig(runtime, operator, 'planted.xml'), { kind: 'invalid', message: /symbolic link, which is refused/ });
});

t.test('bad input says what to do: unknown CRL source, a URL an upgrade may not use, a file name that is a path', async (t) => {
  const { runtime } = await blankToken(t);
  await t.rejects(fetchCrlNow(runtime, operator, 'nosuch'), { kind: 'not-found', message: /name a committed CRL source: none yet/ });
  await t.rejects(upgradeFirmware(runtime, admin, 'file:///etc/passwd'), { kind: 'invalid', message: /upgrade refused: .*give an http\(s\) URL/ });
  await t.rejects(upgradeFirmware(runtime, admin, '../etc/passwd'), { kind: 'invalid', message: /neither an http\(s\) URL nor a file name/ });
  await t.rejects(upgradeFirmware(runtime, admin, 'missing.tar'), { kind: 'not-found', message: /there is no missing\.tar in the configuration folder/ });
  t.throws(() => saveConfig(runtime, operator, '../escape.xml', { mode: 'masked' }), { kind: 'invalid', message: /not a file name in the configuration folder/ });
  t.throws(() => saveConfig(runtime, admin, 'short.xml', { mode: 'encrypted', passphrase: 'short' }), { kind: 'invalid', message: /at least 12 characters/ });
  t.throws(() => loadConfig(runtime, operator, 'absent.xml'), { kind: 'not-found', message: /there is no absent\.xml/ });
  t.throws(() => showConfig(runtime, readOnly, 'nowhere'), { kind: 'not-found', message: /no section "nowhere"; sections: .*system/ });
});

t.test('crlSourceStatus after a fetch shows the last success, from the gateway service', async (t) => {
  const token = await blankToken(t);
  const { runtime, root } = token;
  const ca = new TestCa({ dir: join(tempState(t, 'crl-ca-'), 'ca'), commonName: 'Test Root CA' });
  const revoked = ca.issue({ commonName: 'revoked.user' });
  ca.revoke(revoked, 'keyCompromise');
  const crlFile = join(root, 'published.crl');
  writeFileSync(crlFile, ca.gencrl());
  const files = await fileServer(t);
  await change(runtime, (draft) => {
    draft.certificates.trustStore.push({ name: 'root-ca', pem: ca.pem });
    draft.crl.enabled = true;
    draft.crl.sources.push({ name: 'root', fileType: 'asn1', primaryUrl: files.url(crlFile), schedule: { kind: 'daily', time: '03:00' } } as never);
  });
  const before = await crlSourceStatus(runtime, readOnly);
  t.notOk(before.sources[0]?.lastSuccess, 'no download yet');
  await startService(t, t, { ...token.env, LOG_LEVEL: 'warn' }, 'gateway', 'mail/gateway-service.js');
  let waits = 0;
  const started = Date.now() - 1000;
  const fetched = await fetchCrlNow(runtime, operator, 'root', () => waits++);
  t.notOk(fetched.refused, 'the download was accepted');
  t.ok(waits > 0, 'the front end heard while it waited');
  const status = await crlSourceStatus(runtime, readOnly);
  t.equal(status.live, true, 'asked the running gateway');
  t.equal(status.checking, true);
  const source = status.sources.find((s) => s.name === 'root');
  t.match(source, { name: 'root', enabled: true, primaryUrl: files.url(crlFile), urlUsed: files.url(crlFile), entries: 1, issuer: /CN=Test Root CA/ });
  t.ok(Date.parse(source?.lastSuccess ?? '') >= started, `last success ${source?.lastSuccess}, at this fetch`);
  t.notOk(source?.error);

  // The CRL disappears: the next download is refused, the last good one stays.
  files.close();
  const refused = await fetchCrlNow(runtime, operator, 'root');
  t.match(refused.refused, new RegExp(`the download was refused; the last good CRL, downloaded ${source?.lastSuccess?.replace(/[.+]/g, '\\$&')}, stays in use`));
  t.match(refused.source, { lastSuccess: source?.lastSuccess, error: /./ });
});

t.test('testLdapQuery shows the escaped final filter, and a wrong password is refused without being echoed', async (t) => {
  const token = await blankToken(t);
  const { runtime, root } = token;
  const { slapd } = await withDirectory(t, root);
  await change(runtime, (draft) => {
    draft.ldap.servers.push(ldapServerProfile([slapd], { security: 'none' }) as never);
    draft.ldap.queries.push({ name: 'auth', type: 'smtp-auth', server: 'corp', queryString: '(uid={u})' } as never);
  });

  const sneaky = await testLdapQuery(runtime, readOnly, { query: 'auth', user: 'amy*)(uid=*' });
  t.equal(sneaky.filter, '(uid=amy\\2a\\29\\28uid=\\2a)', 'the user name is escaped in the final filter (RFC 4515)');
  t.match(sneaky, { type: 'smtp-auth', server: { name: 'corp', host: slapd.host }, result: { matched: false, entries: 0 } });
  t.notOk(sneaky.result.bind, 'no password: no bind');

  const found = await testLdapQuery(runtime, readOnly, { query: 'auth', user: 'amy' });
  t.match(found, { filter: '(uid=amy)', result: { matched: true, entries: 1 }, searches: [{ step: 'user', entries: [{ dn: `uid=amy,ou=people,${baseDn}` }] }] });
  t.notMatch(JSON.stringify(found), /userPassword/, 'no password attribute in the entries');

  const wrong = 'Wrong-Secret-77';
  await t.rejects(
    testLdapQuery(runtime, readOnly, { query: 'auth', user: 'amy', password: 'Amy-Pass-1' }),
    { kind: 'forbidden', message: /may not check a directory password/ },
    'a look-only account cannot use Test Query to try directory passwords',
  );
  const refused = await testLdapQuery(runtime, operator, { query: 'auth', user: 'amy', password: wrong });
  t.match(refused, { result: { matched: false, bind: 'refused', outcome: /credentials refused/ } });
  t.notMatch(JSON.stringify(refused), new RegExp(wrong), 'the password is not in the result');
  t.notMatch(allText(join(root, 'logs')), new RegExp(wrong), 'nor in any log');

  const right = await testLdapQuery(runtime, operator, { query: 'auth', user: 'amy', password: 'Amy-Pass-1' });
  t.match(right, { result: { matched: true, bind: 'passed', outcome: /credentials valid/ } });
  t.notMatch(JSON.stringify(right), /Amy-Pass-1/);

  // A pending query is tried before it is committed; a stopped server is an error, not a refusal.
  editChanges(runtime, operator, (draft) => {
    draft.ldap.queries.push({ name: 'draft', type: 'smtp-auth', server: 'corp', queryString: '(mail={u})' } as never);
  });
  t.match(await testLdapQuery(runtime, operator, { query: 'draft', user: 'amy@example.com' }), { filter: '(mail=amy@example.com)' });
  await t.rejects(
    testLdapQuery(runtime, readOnly, { query: 'draft', user: 'amy' }),
    { kind: 'not-found', message: /no LDAP query "draft"; queries: auth/ },
    "another user's pending query is not there",
  );
  await t.rejects(testLdapQuery(runtime, readOnly, { query: 'auth', certificate: { cn: 'x' } }), { kind: 'invalid', message: /SMTP Authentication query/ });
  await slapd.stop();
  const down = await testLdapQuery(runtime, operator, { query: 'auth', user: 'amy', password: wrong });
  t.match(down, { result: { matched: false }, error: /./ });
  t.notOk(down.result.bind, 'no bind outcome when the server did not answer');
  t.notMatch(JSON.stringify(down), new RegExp(wrong));
});

t.test('saveConfig masked never contains a secret; loadConfig brings a file back as pending changes', async (t) => {
  const { runtime, root } = await blankToken(t);
  const userPassword = 'Admin-Pass-Word-9';
  editChanges(runtime, admin, (draft) => {
    draft.ldap.servers.push(ldapServerProfile([{ host: '127.0.0.1', port: 389, ldapsPort: 636 } as Slapd], { security: 'none' }) as never);
  });
  newUser(runtime, admin, 'a-admin', userPassword, ['role=admin']);
  newUser(runtime, admin, 'carol', 'Carol-Pass-Word-8', ['role=operator']);
  await commitChanges(runtime, admin, { comment: 'with secrets' });
  const hash = runtime.store.committed().config.users.find((u) => u.name === 'carol')?.passwordHash ?? '';
  t.match(hash, /^scrypt\$/);

  const saved = saveConfig(runtime, operator, 'masked.xml', { mode: 'masked' });
  t.match(saved, { name: 'masked.xml', path: join(root, 'configuration', 'masked.xml'), secrets: 'masked' });
  const xml = readFileSync(saved.path, 'utf8');
  t.match(xml, /carol/, 'the file has the configuration');
  for (const secret of [servicePassword, hash, userPassword, 'scrypt$']) t.notOk(xml.includes(secret), `the masked file does not contain ${secret.slice(0, 8)}…`);
  t.equal(configFileSecrets(runtime, readOnly, 'masked.xml'), 'masked');
  t.notMatch(JSON.stringify(showConfig(runtime, readOnly)), new RegExp(`${servicePassword}|scrypt\\$`), 'showConfig masks them too');

  const encrypted = saveConfig(runtime, admin, undefined, { mode: 'encrypted', passphrase: 'correct horse battery' });
  t.match(encrypted.name, /^.+-r\d+-\d{4}-\d\d-\d\d\.xml$/, 'a default name from host, revision and date');
  t.notOk(readFileSync(encrypted.path, 'utf8').includes(servicePassword), 'encrypted: not in clear either');
  t.throws(() => loadConfig(runtime, operator, encrypted.name), { kind: 'invalid', message: /give the passphrase/ });
  t.throws(() => loadConfig(runtime, admin, encrypted.name, { passphrase: 'not the passphrase' }), { kind: 'invalid', message: /./ });

  await change(runtime, (draft) => {
    draft.system.hostname = 'renamed.example.com';
    draft.ldap.servers[0]!.bindPassword = 'Changed-Secret-2';
  });
  const loaded = loadConfig(runtime, operator, 'masked.xml');
  t.ok(loaded.keptSecrets.length > 0, `masked secrets keep the configured values: ${loaded.keptSecrets.join(', ')}`);
  const pending = pendingChanges(runtime, operator);
  t.ok(pending.pending, 'the file is pending, not committed');
  t.match(pending.diff, /renamed\.example\.com/);
  const candidate = candidateConfig(runtime, operator);
  t.not(candidate.system.hostname, 'renamed.example.com', 'the saved host name is back in the pending configuration');
  t.equal(candidate.ldap.servers[0]?.bindPassword, 'Changed-Secret-2', 'a masked secret keeps the one configured now');
  t.equal(runtime.store.committed().config.system.hostname, 'renamed.example.com', 'the running configuration is unchanged');
  t.notOk(pendingChanges(runtime, admin).pending, "the other users' pending changes are their own");
});
