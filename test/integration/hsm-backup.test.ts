import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import pkcs11js from 'pkcs11js';
import t from 'tap';
import { type BackupProgress, backupHsm, restoreHsm } from '../../src/hsm/backup.js';
import { officerFor } from '../../src/hsm/context.js';
import { runOfficerProcess } from '../../src/hsm/officer-process.js';
import { readUserPin } from '../../src/hsm/pin.js';
import { tlsOptionsFor } from '../../src/hsm/tls-options.js';
import { initialisedToken, officerPassword, openHsm, pkcs11Tool, sClient, softhsmModule, testCa } from '../helpers/softhsm.js';
import { compiled } from '../helpers/state.js';

const passphrase = 'backup passphrase, kept apart';

t.test('backup, zeroize, restore: the restored key completes a TLS handshake; a tampered file or wrong passphrase changes nothing', async (t) => {
  const token = await initialisedToken(t);
  const ca = testCa(token);
  const before = await (async () => {
    const { pool, keys, certificates } = openHsm(t, token, 1);
    const tlsKey = await keys.generate({ label: 'mail-tls', algorithm: 'ec-p256', backup: true });
    await keys.generate({ label: 'dkim', algorithm: 'rsa-2048', backup: true });
    await keys.generate({ label: 'local-only', algorithm: 'ec-p384' });
    await certificates.import('mail-tls', ca.sign(await certificates.csr('mail-tls', { subject: { commonName: 'mail.example.com' } })) + ca.pem);
    await certificates.selfSign('local-only', { subject: { commonName: 'local' }, days: 5 });
    const pem = await certificates.exportPem('mail-tls', { chain: true });
    pool.close(); // the Officer's SO login needs this process logged out
    return { tlsKey, pem };
  })();

  const officer = officerFor(token.runtime);
  const file = join(token.root, 'hsm-backup.xml');
  const steps: BackupProgress[] = [];
  const common = { passphrase, file, modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel };
  const backup = await backupHsm(officer, { ...common, officerPassword, userPin: token.userPin, onProgress: (p) => steps.push(p) });
  t.same(backup, { ok: true, backedUp: ['dkim', 'mail-tls'], needsNewKey: ['local-only'] });
  t.same(
    steps.map((s) => `${s.step}:${s.label ?? ''}`),
    ['derive:', 'key:dkim', 'key:local-only', 'key:mail-tls', 'write:'],
    'backup shows progress',
  );
  const xml = readFileSync(file, 'utf8');
  t.match(xml, /<kdf algorithm="PBKDF2-HMAC-SHA256" iterations="600000" salt="[^"]+"\/>/);
  t.match(xml, /<key label="local-only"[^>]*backup="false">[\s\S]*<needsNewKey>/, 'a key not made for backup is listed as needing a new key');
  t.ok(xml.includes(before.pem.split('-----END CERTIFICATE-----')[0]!), 'certificates are in clear');
  t.match(xml, /<hmac algorithm="HMAC-SHA256">[0-9a-f]{64}<\/hmac>\n<\/hsmBackup>\n$/);
  t.notMatch(pkcs11Tool(token, ['--list-objects']).output, /fips-backup-wrapping-key/, 'the wrapping key is gone from the token');

  // Three wrong Officer passwords: the HSM is empty, then FIPS initialisation again.
  for (const n of [1, 2, 3]) await officer.login(`Wrong-Password-${n}`);
  t.match(pkcs11Tool(token, ['-L']).output, /token state:\s+uninitialized/, 'the HSM was zeroized');
  officer.initialise('New-Officer-Pass-7');
  const userPin = readUserPin(token.files.userPin);
  const restore = { ...common, officerPassword: 'New-Officer-Pass-7', userPin };
  const empty = pkcs11Tool(token, ['--login', '--pin', userPin, '--list-objects']).output;

  const tampered = join(token.root, 'tampered.xml');
  writeFileSync(tampered, xml.replace('local-only', 'local-onlz'));
  await t.rejects(restoreHsm(officer, { ...restore, file: tampered }), /altered or the passphrase is wrong: nothing was restored/);
  await t.rejects(restoreHsm(officer, { ...restore, passphrase: 'wrong passphrase' }), /altered or the passphrase is wrong/);
  writeFileSync(tampered, xml.replace('iterations="600000"', 'iterations="1000"'));
  await t.rejects(restoreHsm(officer, { ...restore, file: tampered }), /fewer than 600000/, 'a weakened file is refused');
  t.equal(pkcs11Tool(token, ['--login', '--pin', userPin, '--list-objects']).output, empty, 'nothing changed on the token');
  t.equal(officer.failureCount(), 0, 'the HMAC is checked before any Officer login is tried');

  const restoreSteps: BackupProgress[] = [];
  t.same(await restoreHsm(officer, { ...restore, onProgress: (p) => restoreSteps.push(p) }), { ok: true, restored: ['dkim', 'mail-tls'], needsNewKey: ['local-only'] });
  t.ok(
    restoreSteps.some((s) => s.step === 'verify' && s.label === 'mail-tls'),
    'restore shows progress, including the pair check',
  );
  await t.rejects(restoreHsm(officer, restore), /keys already on the HSM: dkim, mail-tls; nothing was restored/);

  const { keys, certificates } = openHsm(t, { ...token, userPin });
  t.match(await keys.show('mail-tls'), { id: before.tlsKey.id, backup: true }, 'the key is back with its id');
  t.equal(await certificates.exportPem('mail-tls', { chain: true }), before.pem, 'with its certificate and chain');
  await t.rejects(keys.show('local-only'), /no key labelled/, 'the key not made for backup is not restored');
  const server = tls.createServer(await tlsOptionsFor(certificates, 'mail-tls', { tokenLabel: token.hsm.tokenLabel, pinFile: token.files.userPin }), (socket) =>
    socket.end('220 restored\r\n'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const output = await sClient((server.address() as AddressInfo).port, ca.cert);
  t.match(output, /Verification: OK/);
  t.match(output, /220 restored/, 'the TLS handshake with the restored key succeeds against openssl s_client');
});

t.test('a backup with a wrong Officer password counts as a failed login and writes nothing', async (t) => {
  const token = await initialisedToken(t);
  const officer = officerFor(token.runtime);
  const file = join(token.root, 'b.xml');
  t.match(
    await backupHsm(officer, { passphrase, file, modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, officerPassword: 'Wrong-Password-1', userPin: token.userPin }),
    { ok: false, zeroized: false, remainingAttempts: 2 },
  );
  t.equal(officer.failureCount(), 1);
  t.throws(() => readFileSync(file), { code: 'ENOENT' });
  await t.rejects(
    backupHsm(officer, { passphrase: 'too short', file, modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, officerPassword, userPin: token.userPin }),
    /at least 12 characters/,
  );
  t.equal(officer.failureCount(), 1, 'a weak passphrase is refused before the Officer password is tried');
});

t.test('the console runs backup and restore in the Officer process and sees their progress', async (t) => {
  const token = await initialisedToken(t);
  const { keys } = openHsm(t, token); // the services stay logged in meanwhile
  await keys.generate({ label: 'dkim', algorithm: 'rsa-2048', backup: true });
  const script = compiled('hsm/officer-main.js');
  const file = join(token.root, 'console-backup.xml');
  const progress: BackupProgress[] = [];
  const result = await runOfficerProcess({ command: 'backup', password: officerPassword, passphrase, file }, { env: token.env, script, onProgress: (p) => progress.push(p) });
  t.same(result, { ok: true, backedUp: ['dkim'], needsNewKey: [] });
  t.same(
    progress.map((p) => p.step),
    ['derive', 'key', 'write'],
    'progress lines reach the console',
  );
  t.match(await runOfficerProcess({ command: 'restore', password: officerPassword, passphrase: 'not it', file }, { env: token.env, script }), {
    ok: false,
    error: /altered or the passphrase is wrong/,
  });
  t.match(await runOfficerProcess({ command: 'restore', password: officerPassword, passphrase, file }, { env: token.env, script }), {
    ok: false,
    error: /keys already on the HSM: dkim/,
  });
});

t.test('a backup that fails after the wrapping key was made leaves no wrapping key behind', async (t) => {
  const token = await initialisedToken(t);
  const file = join(token.root, 'b.xml');
  await t.rejects(
    backupHsm(officerFor(token.runtime), { passphrase, file, modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, officerPassword, userPin: 'not-the-user-pin' }),
    { code: pkcs11js.CKR_PIN_INCORRECT },
  );
  const listing = pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']);
  t.ok(listing.ok);
  t.notMatch(listing.output, /Secret Key Object|fips-backup-wrapping-key/, 'the trusted wrapping key was destroyed');
  t.throws(() => readFileSync(file), { code: 'ENOENT' });
});
