// FIPS Backup and Restore of the HSM, run in the Officer's process.
// Backup: the Officer puts a trusted AES key derived from the passphrase on the
// token (only the SO may set CKA_TRUSTED), the crypto user wraps every
// backup-able private key under it (CKA_WRAP_WITH_TRUSTED allows nothing else),
// the key is destroyed. Restore: HMAC first, then unwrap, re-create the public
// key and certificates, and prove each pair with a sign/verify; on any failure
// everything restored so far is removed again.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { writeFileDurably } from '../os/atomic-file.js';
import { keyAlgorithms } from './algorithms.js';
import { deriveBackupKeys, minimumIterations } from './backup-crypto.js';
import { type BackedUpKey, readBackup, renderBackup } from './backup-file.js';
import { HsmCertificates } from './certificates.js';
import { HsmKeys, keyIdOf, subjectPublicKeyBits } from './keys.js';
import { acquireModule, findTokenSlot, type Handle, HsmError, type Pkcs11, releaseModule } from './module.js';
import { findObjects, privateKeys } from './objects.js';
import type { Officer, OfficerLoginResult } from './officer.js';
import { SessionPool } from './pool.js';

export interface BackupProgress {
  step: 'derive' | 'key' | 'write' | 'verify';
  done: number;
  total: number;
  label?: string;
}

export interface BackupOptions {
  officerPassword: string;
  passphrase: string;
  file: string;
  modulePath: string;
  tokenLabel: string;
  userPin: string;
  iterations?: number;
  onProgress?: (progress: BackupProgress) => void;
}

export const minimumPassphraseLength = 12;
type Refused = Exclude<OfficerLoginResult, { ok: true }>;
const wrapMechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };

export async function backupHsm(officer: Officer, options: BackupOptions): Promise<{ ok: true; backedUp: string[]; needsNewKey: string[] } | Refused> {
  if (options.passphrase.length < minimumPassphraseLength) throw new HsmError('bad-input', `the backup passphrase must be at least ${minimumPassphraseLength} characters long`);
  const progress = options.onProgress ?? (() => {});
  const salt = randomBytes(16);
  const iterations = options.iterations ?? minimumIterations;
  progress({ step: 'derive', done: 0, total: 1 });
  const derived = await deriveBackupKeys(options.passphrase, salt, iterations);
  const kekId = randomBytes(16);
  const created = await officer.withOfficerSession(options.officerPassword, (lib, session) =>
    lib.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      // A public token object, so the crypto user's session can use it to wrap; sensitive, so nobody reads it.
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_TRUSTED, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_LABEL, value: 'fips-backup-wrapping-key' },
      { type: pkcs11js.CKA_ID, value: kekId },
      { type: pkcs11js.CKA_VALUE, value: derived.wrappingKey },
    ]),
  );
  if (!created.ok) return created;
  let pool: SessionPool | undefined;
  try {
    pool = SessionPool.open({ modulePath: options.modulePath, tokenLabel: options.tokenLabel, userPin: options.userPin, size: 1 });
    const keys = new HsmKeys(pool);
    const certificates = new HsmCertificates(keys);
    const list = await keys.list();
    const entries: BackedUpKey[] = [];
    for (const [n, info] of list.entries()) {
      progress({ step: 'key', done: n, total: list.length, label: info.label });
      const publicKey = (await keys.publicKey(info.label)).export({ type: 'spki', format: 'der' });
      const chain = await certificates.exportPem(info.label, { chain: true }).catch(() => '');
      let wrappedPrivateKey: Buffer | undefined;
      if (info.backup) {
        const handle = await keys.privateHandle(info.label);
        wrappedPrivateKey = await pool.run((session, lib) => lib.C_WrapKey(session, wrapMechanism, secretKey(lib, session, kekId), handle, Buffer.alloc(16384)));
      }
      entries.push({ label: info.label, id: info.id, algorithm: info.algorithm, publicKey, certificates: chain, ...(wrappedPrivateKey ? { wrappedPrivateKey } : {}) });
    }
    progress({ step: 'write', done: list.length, total: list.length });
    writeFileDurably(options.file, renderBackup({ created: new Date().toISOString(), tokenLabel: options.tokenLabel, salt, iterations, keys: entries }, derived), 0o600);
    return { ok: true, backedUp: entries.filter((e) => e.wrappedPrivateKey).map((e) => e.label), needsNewKey: entries.filter((e) => !e.wrappedPrivateKey).map((e) => e.label) };
  } finally {
    pool?.close();
    destroyWrappingKey(options, kekId);
  }
}

// A public object: a read-write session without login may destroy it, so this
// works even when the crypto user's login is what failed.
function destroyWrappingKey(options: Pick<BackupOptions, 'modulePath' | 'tokenLabel'>, id: Buffer): void {
  const lib = acquireModule(options.modulePath);
  try {
    const session = lib.C_OpenSession(findTokenSlot(lib, options.tokenLabel), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_DestroyObject(session, secretKey(lib, session, id));
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    releaseModule(options.modulePath);
  }
}

export interface RestoreOptions extends Omit<BackupOptions, 'iterations'> {}

export async function restoreHsm(officer: Officer, options: RestoreOptions): Promise<{ ok: true; restored: string[]; needsNewKey: string[] } | Refused> {
  const progress = options.onProgress ?? (() => {});
  progress({ step: 'derive', done: 0, total: 1 });
  const { content, keys: derived } = await readBackup(readFileSync(options.file, 'utf8'), options.passphrase);
  const login = await officer.login(options.officerPassword);
  if (!login.ok) return login;
  const restorable = content.keys.filter((key) => key.wrappedPrivateKey);
  const pool = SessionPool.open({ modulePath: options.modulePath, tokenLabel: options.tokenLabel, userPin: options.userPin, size: 1 });
  const keys = new HsmKeys(pool);
  const certificates = new HsmCertificates(keys);
  const restored: string[] = [];
  try {
    const clashes = await pool.run((session, lib) => restorable.filter((key) => findObjects(lib, session, privateKeys(key.label)).length > 0).map((key) => key.label));
    if (clashes.length > 0) throw new HsmError('bad-input', `keys already on the HSM: ${clashes.join(', ')}; nothing was restored`);
    // Unwrapping needs no trust: a session key of the crypto user does.
    const kek = await pool.run((session, lib) =>
      lib.C_CreateObject(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_VALUE, value: derived.wrappingKey },
      ]),
    );
    for (const [n, key] of restorable.entries()) {
      progress({ step: 'key', done: n, total: restorable.length, label: key.label });
      await pool.run((session, lib) => restoreKeyPair(lib, session, kek, key));
      restored.push(key.label);
      if (key.certificates) await certificates.import(key.label, key.certificates);
      progress({ step: 'verify', done: n, total: restorable.length, label: key.label });
      const challenge = randomBytes(32);
      const spec = keyAlgorithms[key.algorithm];
      if (
        !verify(spec.kind === 'ec' ? spec.hash : 'sha256', challenge, createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }), await keys.sign(key.label, challenge))
      ) {
        throw new HsmError('bad-input', `restored key ${key.label} does not match its public key`);
      }
    }
    await pool.run((session, lib) => lib.C_DestroyObject(session, kek));
    progress({ step: 'key', done: restorable.length, total: restorable.length });
    return { ok: true, restored, needsNewKey: content.keys.filter((key) => !key.wrappedPrivateKey).map((key) => key.label) };
  } catch (error) {
    for (const label of restored) await keys.delete(label).catch(() => {});
    throw error;
  } finally {
    pool.close();
  }
}

function secretKey(lib: Pkcs11, session: Handle, id: Buffer): Handle {
  const [handle] = findObjects(lib, session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_ID, value: id },
  ]);
  if (handle === undefined) throw new HsmError('key-missing', 'the backup wrapping key is missing');
  return handle;
}

function restoreKeyPair(lib: Pkcs11, session: Handle, kek: Handle, key: BackedUpKey): void {
  const spec = keyAlgorithms[key.algorithm];
  const publicKey = createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' });
  const id = keyIdOf(publicKey);
  if (id.toString('hex') !== key.id) throw new HsmError('bad-input', `backup key ${key.label}: its id does not match its public key`);
  const keyType = spec.kind === 'rsa' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC;
  const common = [
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: key.label },
    { type: pkcs11js.CKA_ID, value: id },
  ];
  const privateKey = lib.C_UnwrapKey(session, wrapMechanism, kek, key.wrappedPrivateKey!, [
    ...common,
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
  ]);
  try {
    const material: pkcs11js.Template = [];
    if (spec.kind === 'rsa') {
      const jwk = publicKey.export({ format: 'jwk' });
      material.push({ type: pkcs11js.CKA_MODULUS, value: Buffer.from(jwk.n!, 'base64url') }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e!, 'base64url') });
    } else {
      const point = subjectPublicKeyBits(publicKey);
      material.push({ type: pkcs11js.CKA_EC_PARAMS, value: spec.curveParams! }, { type: pkcs11js.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, point.length]), point]) });
    }
    lib.C_CreateObject(session, [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      ...material,
    ]);
  } catch (error) {
    lib.C_DestroyObject(session, privateKey);
    throw error;
  }
}
