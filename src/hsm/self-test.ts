// Power-on self-test: a known-answer signature and verification made by the
// HSM with a fixed test key imported as session objects (gone when the session
// closes, never on the token).
import { createPrivateKey } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type KnownAnswer, knownAnswer } from './known-answer.js';
import { type Handle, isPkcs11Error, type Pkcs11 } from './module.js';
import { type SessionPool, signAsync } from './pool.js';

/** Resolves when the HSM gives the known answer; rejects with the reason otherwise. */
export async function powerOnSelfTest(pool: SessionPool, vector: KnownAnswer = knownAnswer): Promise<void> {
  const jwk = createPrivateKey(vector.privateKeyPem).export({ format: 'jwk' });
  const part = (name: 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi') => Buffer.from(jwk[name]!, 'base64url');
  const message = Buffer.from(vector.message);
  const expected = Buffer.from(vector.signatureHex, 'hex');
  await pool.run(async (session, lib) => {
    const common = [
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_MODULUS, value: part('n') },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: part('e') },
    ];
    const privateKey = lib.C_CreateObject(session, [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: part('d') },
      { type: pkcs11js.CKA_PRIME_1, value: part('p') },
      { type: pkcs11js.CKA_PRIME_2, value: part('q') },
      { type: pkcs11js.CKA_EXPONENT_1, value: part('dp') },
      { type: pkcs11js.CKA_EXPONENT_2, value: part('dq') },
      { type: pkcs11js.CKA_COEFFICIENT, value: part('qi') },
    ]);
    let publicKey: Handle | undefined;
    try {
      publicKey = lib.C_CreateObject(session, [...common, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_VERIFY, value: true }]);
      const mechanism = { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS };
      lib.C_SignInit(session, mechanism, privateKey);
      const signature = await signAsync(lib, session, message);
      if (!signature.equals(expected)) throw new Error('known-answer signature mismatch');
      if (!verifies(lib, session, publicKey, message, expected)) throw new Error('the known-answer signature did not verify');
      const tampered = Buffer.from(expected);
      tampered[tampered.length - 1]! ^= 1;
      if (verifies(lib, session, publicKey, message, tampered)) throw new Error('a tampered signature verified');
    } finally {
      for (const handle of [privateKey, publicKey]) if (handle !== undefined) lib.C_DestroyObject(session, handle);
    }
  });
}

function verifies(lib: Pkcs11, session: Handle, key: Handle, message: Buffer, signature: Buffer): boolean {
  lib.C_VerifyInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
  try {
    return lib.C_Verify(session, message, signature);
  } catch (error) {
    if (isPkcs11Error(error, pkcs11js.CKR_SIGNATURE_INVALID)) return false;
    throw error;
  }
}
