// The FIPS Officer and HSM operations of the administration core, as the console and
// the web call them, on a real SoftHSM2 token: admins only, most of them only in FIPS
// management mode; wrong Officer passwords are counted and the third wipes the HSM.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Actor } from '../../src/admin/actor.js';
import {
  changeOfficerPassword,
  closeCryptoUser,
  deleteKey,
  exportCertificate,
  fipsBackup,
  fipsRestore,
  fipsStatus,
  generateDkim,
  generateKey,
  HsmZeroized,
  importCertificate,
  initialiseHsm,
  listCertificates,
  listKeys,
  makeCsr,
  OfficerPasswordRefused,
  officerLogin,
  selfSign,
  suggestedBackupName,
} from '../../src/admin/fips.js';
import { blankToken, officerPassword, pkcs11Tool, type TestToken, testCa } from '../helpers/softhsm.js';

const as = (role: Actor['role'], fipsMode = false): Actor => ({ user: `a-${role}`, role, source: 'web', from: '192.0.2.9', fipsMode });
const officer = as('admin', true);
const adminOutsideMode = as('admin');
const passphrase = 'a backup passphrase, kept apart';
const fipsLog = (token: TestToken) => readFileSync(join(token.root, 'logs', 'fips_logs', 'fips_logs.current'), 'utf8');

/** The public key of a CSR the HSM signs with the key, once openssl has verified the CSR's signature. */
async function publicKeyOfCsr(runtime: TestToken['runtime'], label: string): Promise<string> {
  const csr = await makeCsr(runtime, officer, { label, commonName: 'mail.example.com' });
  return execFileSync('openssl', ['req', '-verify', '-pubkey', '-noout'], { input: csr, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A token through FIPS initialisation by the admin core itself; the crypto user's pool is closed after the test. */
async function initialised(t: Test): Promise<TestToken> {
  const token = await blankToken(t);
  t.teardown(closeCryptoUser);
  await initialiseHsm(token.runtime, adminOutsideMode, { password: officerPassword, repeated: officerPassword });
  return token;
}

t.test('a read-only user or an operator is refused every FIPS operation, and nothing is counted or made', async (t) => {
  const token = await initialised(t);
  for (const actor of [as('read-only', true), as('operator', true)]) {
    const { runtime } = token;
    const attempts: [string, () => Promise<unknown>][] = [
      ['officerLogin', () => officerLogin(runtime, actor, officerPassword)],
      ['changeOfficerPassword', () => changeOfficerPassword(runtime, actor, { current: officerPassword, next: 'Another-Pass-99', repeated: 'Another-Pass-99' })],
      ['initialiseHsm', () => initialiseHsm(runtime, actor, { password: officerPassword, repeated: officerPassword })],
      ['fipsStatus', () => fipsStatus(runtime, actor)],
      ['listKeys', () => listKeys(runtime, actor)],
      ['generateKey', () => generateKey(runtime, actor, { label: 'sneaky', algorithm: 'ec-p256', backup: true })],
      ['deleteKey', () => deleteKey(runtime, actor, 'sneaky')],
      ['makeCsr', () => makeCsr(runtime, actor, { label: 'sneaky', commonName: 'mail.example.com' })],
      ['selfSign', () => selfSign(runtime, actor, { label: 'sneaky', commonName: 'mail.example.com', days: 5 })],
      ['importCertificate', () => importCertificate(runtime, actor, 'sneaky', '')],
      ['listCertificates', () => listCertificates(runtime, actor)],
      ['exportCertificate', () => exportCertificate(runtime, actor, 'sneaky')],
      ['generateDkim', () => generateDkim(runtime, actor, { domain: 'example.com', selector: 's1' })],
      ['fipsBackup', () => fipsBackup(runtime, actor, { file: 'b.xml', password: officerPassword, passphrase })],
      ['fipsRestore', () => fipsRestore(runtime, actor, { file: 'b.xml', password: officerPassword, passphrase })],
    ];
    for (const [name, attempt] of attempts) {
      await t.rejects(attempt(), { kind: 'forbidden', message: new RegExp(`your role \\(${actor.role}\\) may not use the HSM.*needs an admin`) }, `${actor.role}: ${name}`);
    }
  }
  t.notOk(existsSync(token.files.officerFailures) && JSON.parse(readFileSync(token.files.officerFailures, 'utf8')).consecutiveFailures > 0, 'no Officer attempt was made');
  t.notMatch(pkcs11Tool(token, ['--list-objects']).output, /sneaky|dkim/, 'no key was made');
  t.notOk(existsSync(join(token.root, 'configuration', 'b.xml')), 'no backup was written');
});

t.test('outside FIPS management mode an admin may log in, initialise and look, nothing else', async (t) => {
  const token = await initialised(t);
  const { runtime } = token;
  const status = await fipsStatus(runtime, adminOutsideMode);
  t.match(status, { device: 'softhsm2', tokenLabel: token.hsm.tokenLabel, modulePath: token.hsm.modulePath, factoryPassword: false });
  t.match(status.selfTest, /gateway service is not running/, 'the self-test is asked of the gateway, which is not running here');
  const attempts: [string, () => Promise<unknown>][] = [
    ['changeOfficerPassword', () => changeOfficerPassword(runtime, adminOutsideMode, { current: officerPassword, next: 'Another-Pass-99', repeated: 'Another-Pass-99' })],
    ['listKeys', () => listKeys(runtime, adminOutsideMode)],
    ['generateKey', () => generateKey(runtime, adminOutsideMode, { label: 'early', algorithm: 'ec-p256', backup: false })],
    ['deleteKey', () => deleteKey(runtime, adminOutsideMode, 'early')],
    ['makeCsr', () => makeCsr(runtime, adminOutsideMode, { label: 'early', commonName: 'mail.example.com' })],
    ['selfSign', () => selfSign(runtime, adminOutsideMode, { label: 'early', commonName: 'mail.example.com' })],
    ['importCertificate', () => importCertificate(runtime, adminOutsideMode, 'early', '')],
    ['listCertificates', () => listCertificates(runtime, adminOutsideMode)],
    ['exportCertificate', () => exportCertificate(runtime, adminOutsideMode, 'early')],
    ['generateDkim', () => generateDkim(runtime, adminOutsideMode, { domain: 'example.com', selector: 's1' })],
    ['fipsBackup', () => fipsBackup(runtime, adminOutsideMode, { file: 'b.xml', password: officerPassword, passphrase })],
    ['fipsRestore', () => fipsRestore(runtime, adminOutsideMode, { file: 'b.xml', password: officerPassword, passphrase })],
  ];
  for (const [name, attempt] of attempts) {
    await t.rejects(attempt(), { kind: 'forbidden', message: 'this needs FIPS management mode: log in as the FIPS Officer first' }, name);
  }
  t.same(await officerLogin(runtime, adminOutsideMode, officerPassword), { mustChangePassword: false }, 'the right password opens the mode');
  t.match(fipsLog(token), /FIPS Officer login by a-admin \(192\.0\.2\.9\) succeeded; FIPS management mode entered/);
  await t.rejects(initialiseHsm(runtime, adminOutsideMode, { password: officerPassword, repeated: officerPassword }), {
    kind: 'conflict',
    message: /FIPS initialisation failed: the HSM token "appliance" is already initialised/,
  });
  await t.rejects(initialiseHsm(runtime, adminOutsideMode, { password: 'Some-New-Pass-1', repeated: 'Some-New-Pass-2' }), { kind: 'invalid', message: /the two passwords differ/ });
});

t.test('two wrong Officer passwords say how many tries are left; the third wipes the HSM', async (t) => {
  const token = await initialised(t);
  await generateKey(token.runtime, officer, { label: 'precious', algorithm: 'ec-p256', backup: false });
  closeCryptoUser(); // the wipe would leave this process's pool on a token that went away
  for (const remaining of [2, 1]) {
    const refusal = await officerLogin(token.runtime, adminOutsideMode, `Wrong-Password-${remaining}`).catch((err: unknown) => err);
    t.ok(refusal instanceof OfficerPasswordRefused, 'a counted refusal');
    t.match(refusal, { kind: 'forbidden', remainingAttempts: remaining, message: `Wrong FIPS Officer password. ${remaining} attempt(s) left before the HSM is wiped.` });
  }
  t.match(pkcs11Tool(token, ['--list-objects']).output, /precious/, 'two wrong passwords leave the key');
  const third = await officerLogin(token.runtime, adminOutsideMode, 'Wrong-Password-3').catch((err: unknown) => err);
  t.ok(third instanceof HsmZeroized, 'the third is the wipe');
  t.match(third, { kind: 'unavailable', message: /the HSM has been initialised, so every key and certificate it held is gone\.\nThe appliance will reboot\./ });
  t.match(pkcs11Tool(token, ['-L']).output, /token state:\s+uninitialized/, 'the token is wiped');
  t.notMatch(pkcs11Tool(token, ['--list-objects']).output, /precious/, 'the key is gone');
  t.ok(existsSync(join(token.root, 'run', 'reboot-request.json')), 'a reboot is requested');
  await t.rejects(listKeys(token.runtime, officer), { kind: 'unavailable', message: /not initialised.*run FIPS initialisation first/ }, 'keys need a new FIPS initialisation');
});

t.test('a key made in the HSM gives a CSR that openssl verifies; its signed certificate comes back next to it', async (t) => {
  const token = await initialised(t);
  const { runtime } = token;
  await generateKey(runtime, officer, { label: 'mail-tls', algorithm: 'ec-p256', backup: true });
  await generateKey(runtime, officer, { label: 'other', algorithm: 'rsa-2048', backup: false });
  t.same(await listKeys(runtime, officer), [
    { label: 'mail-tls', algorithm: 'ec-p256', backup: true },
    { label: 'other', algorithm: 'rsa-2048', backup: false },
  ]);
  await t.rejects(generateKey(runtime, officer, { label: 'mail-tls', algorithm: 'ec-p256' }), { kind: 'invalid', message: /a key labelled "mail-tls" already exists/ });
  await t.rejects(generateKey(runtime, officer, { label: 'weak', algorithm: 'rsa-1024' }), { kind: 'invalid', message: /"rsa-1024" is not a key algorithm: choose rsa-2048/ });

  const csr = await makeCsr(runtime, officer, { label: 'mail-tls', commonName: 'mail.example.com', dnsNames: ['mail.example.com', 'mx.example.com'] });
  t.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n$/);
  const verified = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: csr, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  t.match(verified, /Subject: CN\s?=\s?mail\.example\.com/);
  t.match(verified, /DNS:mail\.example\.com, DNS:mx\.example\.com/);
  await t.rejects(makeCsr(runtime, officer, { label: 'missing', commonName: 'mail.example.com' }), { kind: 'not-found', message: /missing/ });

  const ca = testCa(token, 'Site CA');
  const signed = ca.sign(csr);
  await t.rejects(importCertificate(runtime, officer, 'other', signed), { kind: 'invalid', message: /does not belong to key "other"/ }, "another key's certificate is refused");
  await t.rejects(importCertificate(runtime, officer, 'mail-tls', 'not a certificate'), { kind: 'invalid', message: /no PEM certificate found/ });
  t.same(await importCertificate(runtime, officer, 'mail-tls', signed + ca.pem), { subject: 'CN=mail.example.com', chainLength: 1 });
  const listed = await listCertificates(runtime, officer);
  t.match(listed, [{ label: 'mail-tls', subject: 'CN=mail.example.com', validTo: /\S/ }]);
  const fingerprint = (pem: string) => execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' });
  const exported = await exportCertificate(runtime, officer, 'mail-tls');
  t.equal(fingerprint(exported), fingerprint(signed), 'the export starts with the signed certificate');
  t.ok(exported.includes(ca.pem.trim().split('\n')[1]!), 'and carries its chain');

  const self = await selfSign(runtime, officer, { label: 'other', commonName: 'other.example.com', days: 7 });
  t.ok(Math.abs(Date.parse(self.validTo) - Date.now() - 7 * 86_400_000) < 86_400_000, 'self-signed for the days asked');
  await t.rejects(selfSign(runtime, officer, { label: 'other', commonName: 'other.example.com', days: 0 }), { kind: 'invalid', message: /whole number of days/ });

  const dkim = await generateDkim(runtime, officer, { domain: 'Example.COM', selector: 's2026' });
  t.equal(dkim.label, 'dkim.s2026.example.com');
  t.match(dkim.txt, { name: 's2026._domainkey.example.com', value: /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/ });
  await t.rejects(generateDkim(runtime, officer, { domain: 'not a domain', selector: 's1' }), { kind: 'invalid', message: /is not a domain name/ });

  await deleteKey(runtime, officer, 'mail-tls');
  t.same(
    (await listKeys(runtime, officer)).map((k) => k.label),
    ['dkim.s2026.example.com', 'other'],
  );
  t.same(
    (await listCertificates(runtime, officer)).map((c) => c.label),
    ['other'],
    'its certificate went with it',
  );
  await t.rejects(deleteKey(runtime, officer, 'mail-tls'), { kind: 'not-found', message: /mail-tls/ }, 'a deleted key cannot be deleted again');
});

t.test('FIPS backup then restore brings a deleted key back; a wrong Officer password counts like a login', async (t) => {
  const token = await initialised(t);
  const { runtime } = token;
  await generateKey(runtime, officer, { label: 'mail-tls', algorithm: 'ec-p256', backup: true });
  await generateKey(runtime, officer, { label: 'local-only', algorithm: 'ec-p384', backup: false });
  const name = suggestedBackupName(runtime);
  t.match(name, /^[A-Za-z0-9][A-Za-z0-9.-]*-fips-backup-\d{8}-\d{4}\.xml$/);
  t.ok(name.startsWith(`${runtime.config.system.hostname}-fips-backup-`), 'named after the appliance');

  const wrong = await fipsBackup(runtime, officer, { file: name, password: 'Not-The-Password-1', passphrase }).catch((err: unknown) => err);
  t.match(wrong, { kind: 'forbidden', remainingAttempts: 2 }, 'a wrong Officer password is counted');
  await t.rejects(fipsBackup(runtime, officer, { file: '../outside.xml', password: officerPassword, passphrase }), {
    kind: 'invalid',
    message: /not a file name in the configuration folder/,
  });
  symlinkSync('/etc/passwd', join(token.root, 'configuration', 'link.xml'));
  await t.rejects(fipsBackup(runtime, officer, { file: 'link.xml', password: officerPassword, passphrase }), { kind: 'invalid', message: /symbolic link, which is refused/ });

  const progress: string[] = [];
  const backup = await fipsBackup(runtime, officer, { file: name, password: officerPassword, passphrase, onProgress: (p) => progress.push(p.step) });
  t.equal(backup.path, join(token.root, 'configuration', name), 'written into the configuration folder');
  t.same(backup.backedUp, ['mail-tls']);
  t.same(backup.needsNewKey, ['local-only']);
  t.ok(progress.includes('derive') && progress.includes('write'), 'progress is reported');
  const xml = readFileSync(backup.path, 'utf8');
  t.match(xml, /<hsmBackup[\s\S]*<\/hsmBackup>\n$/);
  t.notMatch(xml, /PRIVATE KEY/, 'no key in clear');
  t.match(fipsLog(token), /FIPS backup to \S+ by a-admin \(192\.0\.2\.9\)/);

  const before = await publicKeyOfCsr(runtime, 'mail-tls');
  await deleteKey(runtime, officer, 'mail-tls');
  t.notOk(
    (await listKeys(runtime, officer)).some((k) => k.label === 'mail-tls'),
    'deleted',
  );
  await t.rejects(fipsRestore(runtime, officer, { file: name, password: officerPassword, passphrase: 'not the passphrase at all' }), {
    kind: 'invalid',
    message: /^restore failed, nothing was changed: .*passphrase is wrong/,
  });
  await t.rejects(fipsRestore(runtime, officer, { file: 'no-such.xml', password: officerPassword, passphrase }), { kind: 'not-found', message: /there is no no-such\.xml/ });
  writeFileSync(join(token.root, 'configuration', 'junk.xml'), 'not a backup');
  await t.rejects(fipsRestore(runtime, officer, { file: 'junk.xml', password: officerPassword, passphrase }), { kind: 'invalid', message: /^restore failed, nothing was changed/ });
  const restored = await fipsRestore(runtime, officer, { file: name, password: officerPassword, passphrase });
  t.same(restored.restored, ['mail-tls']);
  t.match(await listKeys(runtime, officer), [{ label: 'local-only' }, { label: 'mail-tls', algorithm: 'ec-p256', backup: true }], 'listKeys shows the restored key');
  t.equal(await publicKeyOfCsr(runtime, 'mail-tls'), before, 'the same key is back, and it signs');
});

t.test('the factory Officer password: the login says it must change, and that change works before the mode opens', async (t) => {
  const token = await initialised(t);
  writeFileSync(token.files.officerPasswordIsFactory, 'factory\n'); // what the image's first boot leaves
  t.match(await fipsStatus(token.runtime, adminOutsideMode), { factoryPassword: true });
  t.same(await officerLogin(token.runtime, adminOutsideMode, officerPassword), { mustChangePassword: true });
  const next = 'Officer-Chosen-9';
  await t.rejects(changeOfficerPassword(token.runtime, adminOutsideMode, { current: officerPassword, next, repeated: 'Officer-Typo-9' }), {
    kind: 'invalid',
    message: 'the two new passwords differ; nothing was changed',
  });
  await t.rejects(changeOfficerPassword(token.runtime, adminOutsideMode, { current: officerPassword, next: officerPassword, repeated: officerPassword }), {
    kind: 'invalid',
    message: /must differ from the current one/,
  });
  await t.rejects(changeOfficerPassword(token.runtime, adminOutsideMode, { current: officerPassword, next: 'short', repeated: 'short' }), {
    kind: 'invalid',
    message: /^The FIPS Officer password was not changed: the new Officer password/,
  });
  t.ok(existsSync(token.files.officerPasswordIsFactory), 'still the factory password');
  await changeOfficerPassword(token.runtime, adminOutsideMode, { current: officerPassword, next, repeated: next });
  t.notOk(existsSync(token.files.officerPasswordIsFactory), 'the factory mark is gone');
  t.match(fipsLog(token), /FIPS Officer password changed by a-admin \(192\.0\.2\.9\); FIPS management mode entered/);
  t.same(await officerLogin(token.runtime, adminOutsideMode, next), { mustChangePassword: false }, 'the new password opens the mode');
  await t.rejects(
    changeOfficerPassword(token.runtime, adminOutsideMode, { current: next, next: 'Yet-Another-7', repeated: 'Yet-Another-7' }),
    {
      kind: 'forbidden',
      message: /needs FIPS management mode/,
    },
    'with the factory password gone, a change needs the mode',
  );
  const refusal = await officerLogin(token.runtime, adminOutsideMode, officerPassword).catch((err: unknown) => err);
  t.match(refusal, { remainingAttempts: 2 }, 'the old one no longer does');
});
