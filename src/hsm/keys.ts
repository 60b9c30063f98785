// Key pairs made and used inside the HSM. A pair shares its label and CKA_ID
// (the SHA-1 of the public key, as in a certificate's subject key identifier)
// with the certificates stored next to it.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type AlgorithmSpec, algorithmOfEcParams, algorithmOfRsaBits, type KeyAlgorithm, keyAlgorithms, signMechanism } from './algorithms.js';
import { ecdsaRawToDer, unwrapEcPoint } from './der.js';
import { type Handle, HsmError, type Pkcs11 } from './module.js';
import { findObjects, objectsOfKey, privateKeys, readBoolean, readBuffers } from './objects.js';
import { type SessionPool, signAsync } from './pool.js';

export interface KeySpec {
  label: string;
  algorithm: KeyAlgorithm;
  /** Extractable, but only wrapped under a trusted key (FIPS backup). Default false. */
  backup?: boolean;
}

export interface KeyInfo {
  label: string;
  /** CKA_ID, hex. */
  id: string;
  algorithm: KeyAlgorithm;
  backup: boolean;
}

interface KnownKey {
  handle: Handle;
  info: KeyInfo;
}

const labelPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkLabel(label: string): void {
  if (!labelPattern.test(label)) throw new HsmError('bad-input', `key label "${label}" must be 1-128 letters, digits, dots, dashes or underscores`);
}

export class HsmKeys {
  // Private-key handles stay valid while the pool is logged in, which is for good.
  private readonly known = new Map<string, KnownKey>();

  constructor(readonly pool: SessionPool) {}

  async generate(spec: KeySpec): Promise<KeyInfo> {
    checkLabel(spec.label);
    const algorithm = keyAlgorithms[spec.algorithm];
    if (!algorithm) throw new HsmError('bad-input', `unknown key algorithm ${spec.algorithm}`);
    const backup = spec.backup ?? false;
    return this.pool.run(async (session, lib) => {
      if (findObjects(lib, session, privateKeys(spec.label)).length > 0) throw new HsmError('bad-input', `a key labelled "${spec.label}" already exists`);
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: spec.label },
      ];
      const publicTemplate: pkcs11js.Template = [...common, { type: pkcs11js.CKA_PRIVATE, value: false }, { type: pkcs11js.CKA_VERIFY, value: true }];
      const privateTemplate: pkcs11js.Template = [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: backup },
        { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: backup },
      ];
      let mechanism: number;
      if (algorithm.kind === 'rsa') {
        mechanism = pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_MODULUS_BITS, value: algorithm.bits }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) });
      } else {
        mechanism = pkcs11js.CKM_EC_KEY_PAIR_GEN;
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: algorithm.curveParams! });
      }
      const pair = await new Promise<pkcs11js.KeyPair>((resolve, reject) =>
        lib.C_GenerateKeyPair(session, { mechanism }, publicTemplate, privateTemplate, (error, keys) => (error ? reject(error) : resolve(keys))),
      );
      const id = keyIdOf(publicKeyOf(lib, session, pair.publicKey, algorithm));
      for (const handle of [pair.publicKey, pair.privateKey]) lib.C_SetAttributeValue(session, handle, [{ type: pkcs11js.CKA_ID, value: id }]);
      const info: KeyInfo = { label: spec.label, id: id.toString('hex'), algorithm: spec.algorithm, backup };
      this.known.set(spec.label, { handle: pair.privateKey, info });
      return info;
    });
  }

  async list(): Promise<KeyInfo[]> {
    return this.pool.run((session, lib) => {
      const keys = findObjects(lib, session, privateKeys()).map((handle) => describePrivateKey(lib, session, handle));
      return keys.sort((a, b) => a.label.localeCompare(b.label));
    });
  }

  async show(label: string): Promise<KeyInfo> {
    return (await this.lookup(label)).info;
  }

  async publicKey(label: string): Promise<KeyObject> {
    const key = await this.lookup(label);
    return this.pool.run((session, lib) => {
      const [handle] = findObjects(lib, session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(key.info.id, 'hex') },
      ]);
      if (handle === undefined) throw new HsmError('key-missing', `the public half of key "${label}" is missing`);
      return publicKeyOf(lib, session, handle, keyAlgorithms[key.info.algorithm]);
    });
  }

  /**
   * Signs `data` in the HSM with the key's algorithm: RSASSA-PKCS1-v1_5 with
   * SHA-256, or ECDSA with SHA-256 (P-256) / SHA-384 (P-384) as DER.
   */
  async sign(label: string, data: Buffer): Promise<Buffer> {
    const key = this.known.get(label) ?? (await this.lookup(label));
    const algorithm = keyAlgorithms[key.info.algorithm];
    const input = algorithm.kind === 'ec' ? createHash(algorithm.hash).update(data).digest() : data;
    const signature = await this.pool.run((session, lib) => {
      lib.C_SignInit(session, signMechanism(algorithm), key.handle);
      // An EC signature takes tens of microseconds: a trip through the thread pool costs more than it saves.
      return algorithm.kind === 'ec' ? lib.C_Sign(session, input, Buffer.alloc(256)) : signAsync(lib, session, input);
    });
    return algorithm.kind === 'ec' ? ecdsaRawToDer(signature) : signature;
  }

  /** Deletes the key pair, its certificate and its chain. */
  async delete(label: string): Promise<void> {
    const key = await this.lookup(label);
    await this.pool.run((session, lib) => {
      for (const handle of objectsOfKey(lib, session, label, Buffer.from(key.info.id, 'hex'))) lib.C_DestroyObject(session, handle);
    });
    this.known.delete(label);
  }

  /** The private key's handle, for wrapping (backup.ts). */
  async privateHandle(label: string): Promise<Handle> {
    return (await this.lookup(label)).handle;
  }

  /** Forgets cached handles (after objects changed behind this instance's back, e.g. a restore). */
  forget(): void {
    this.known.clear();
  }

  private async lookup(label: string): Promise<KnownKey> {
    const cached = this.known.get(label);
    if (cached) return cached;
    const found = await this.pool.run((session, lib) => {
      const [handle] = findObjects(lib, session, privateKeys(label));
      return handle === undefined ? undefined : { handle, info: describePrivateKey(lib, session, handle) };
    });
    if (!found) throw new HsmError('key-missing', `no key labelled "${label}" in the HSM`);
    this.known.set(label, found);
    return found;
  }
}

function describePrivateKey(lib: Pkcs11, session: Handle, handle: Handle): KeyInfo {
  const [label, id, keyType, extractable] = readBuffers(lib, session, handle, [pkcs11js.CKA_LABEL, pkcs11js.CKA_ID, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_EXTRACTABLE]) as [
    Buffer,
    Buffer,
    Buffer,
    Buffer,
  ];
  let algorithm: KeyAlgorithm | undefined;
  if (keyType[0] === pkcs11js.CKK_RSA) {
    const [modulus] = readBuffers(lib, session, handle, [pkcs11js.CKA_MODULUS]) as [Buffer];
    algorithm = algorithmOfRsaBits(modulus.length * 8);
  } else if (keyType[0] === pkcs11js.CKK_EC) {
    const [params] = readBuffers(lib, session, handle, [pkcs11js.CKA_EC_PARAMS]) as [Buffer];
    algorithm = algorithmOfEcParams(params);
  }
  if (!algorithm) throw new HsmError('bad-input', `key "${label.toString()}" has a type the appliance does not use`);
  return { label: label.toString('utf8'), id: id.toString('hex'), algorithm, backup: readBoolean(extractable) };
}

export function publicKeyOf(lib: Pkcs11, session: Handle, handle: Handle, algorithm: AlgorithmSpec): KeyObject {
  if (algorithm.kind === 'rsa') {
    const [n, e] = readBuffers(lib, session, handle, [pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT]) as [Buffer, Buffer];
    return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
  }
  const [point] = readBuffers(lib, session, handle, [pkcs11js.CKA_EC_POINT]) as [Buffer];
  const raw = unwrapEcPoint(point);
  const size = (raw.length - 1) / 2;
  return createPublicKey({
    key: { kty: 'EC', crv: algorithm.jwkCurve!, x: raw.subarray(1, 1 + size).toString('base64url'), y: raw.subarray(1 + size).toString('base64url') },
    format: 'jwk',
  });
}

/** SHA-1 of the subjectPublicKey bits: the certificate's subject key identifier, used as CKA_ID. */
export function keyIdOf(publicKey: KeyObject): Buffer {
  return createHash('sha1').update(subjectPublicKeyBits(publicKey)).digest();
}

export function subjectPublicKeyBits(publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType === 'rsa') return publicKey.export({ type: 'pkcs1', format: 'der' });
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}
