// The key types the appliance makes in the HSM, and how each one signs.
import pkcs11js from 'pkcs11js';

export type KeyAlgorithm = 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ec-p256' | 'ec-p384';
export type HashName = 'sha256' | 'sha384';

export interface AlgorithmSpec {
  kind: 'rsa' | 'ec';
  bits: number;
  /** Digest used for its signatures. */
  hash: HashName;
  /** OID of the X.509 signature algorithm it makes. */
  signatureOid: string;
  /** DER OID of the curve (CKA_EC_PARAMS), for EC. */
  curveParams?: Buffer;
  jwkCurve?: 'P-256' | 'P-384';
}

const sha256WithRsa = '1.2.840.113549.1.1.11';

export const keyAlgorithms: Record<KeyAlgorithm, AlgorithmSpec> = {
  'rsa-2048': { kind: 'rsa', bits: 2048, hash: 'sha256', signatureOid: sha256WithRsa },
  'rsa-3072': { kind: 'rsa', bits: 3072, hash: 'sha256', signatureOid: sha256WithRsa },
  'rsa-4096': { kind: 'rsa', bits: 4096, hash: 'sha256', signatureOid: sha256WithRsa },
  'ec-p256': { kind: 'ec', bits: 256, hash: 'sha256', signatureOid: '1.2.840.10045.4.3.2', curveParams: Buffer.from('06082a8648ce3d030107', 'hex'), jwkCurve: 'P-256' },
  'ec-p384': { kind: 'ec', bits: 384, hash: 'sha384', signatureOid: '1.2.840.10045.4.3.3', curveParams: Buffer.from('06052b81040022', 'hex'), jwkCurve: 'P-384' },
};

export function isKeyAlgorithm(value: string): value is KeyAlgorithm {
  return Object.hasOwn(keyAlgorithms, value);
}

export function algorithmOfEcParams(params: Buffer): KeyAlgorithm | undefined {
  if (params.equals(keyAlgorithms['ec-p256'].curveParams!)) return 'ec-p256';
  if (params.equals(keyAlgorithms['ec-p384'].curveParams!)) return 'ec-p384';
  return undefined;
}

export function algorithmOfRsaBits(bits: number): KeyAlgorithm | undefined {
  return bits === 2048 ? 'rsa-2048' : bits === 3072 ? 'rsa-3072' : bits === 4096 ? 'rsa-4096' : undefined;
}

// SoftHSM2 has no CKM_ECDSA_SHA256: EC keys sign a digest made here.
export function signMechanism(spec: AlgorithmSpec): pkcs11js.Mechanism {
  return { mechanism: spec.kind === 'rsa' ? pkcs11js.CKM_SHA256_RSA_PKCS : pkcs11js.CKM_ECDSA };
}
