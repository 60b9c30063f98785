// CRL signatures checked with node:crypto over the raw TBS bytes: RSA PKCS#1
// v1.5, RSA-PSS, ECDSA and Ed25519/Ed448.
import { constants, createVerify, type KeyObject, verify } from 'node:crypto';
import { CrlFormatError, children, decodeOid, expectTlv, readTlv, Tag, value } from './der.js';
import type { AlgorithmIdentifier, SignedBytes } from './scan.js';

const hashOfSignature: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const hashOids: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const rsaPss = '1.2.840.113549.1.1.10';
const eddsa = new Set(['1.3.101.112', '1.3.101.113']);

/** True when `signature` over `signed` verifies with `key`; throws CrlFormatError for an algorithm it does not know. */
// The signed bytes are streamed through the hash (a DoD CRL's TBS is tens of MB, read
// again from its file); EdDSA has no streaming form in node:crypto, so an Ed25519 or
// Ed448 CRL's TBS is read whole.
export function signatureVerifies(signed: SignedBytes | Buffer, algorithm: AlgorithmIdentifier, signature: Buffer, key: KeyObject): boolean {
  const chunks = Buffer.isBuffer(signed) ? [signed] : signed.chunks();
  if (eddsa.has(algorithm.oid)) {
    const parts: Buffer[] = [];
    for (const chunk of chunks) parts.push(Buffer.from(chunk)); // each chunk is valid only until the next
    return verify(null, Buffer.concat(parts), key, signature);
  }
  if (algorithm.oid === rsaPss) {
    const { hash, saltLength } = pssParameters(algorithm.parameters);
    return streamed(hash, chunks).verify({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
  }
  const hash = hashOfSignature[algorithm.oid];
  if (!hash) throw new CrlFormatError(`unsupported signature algorithm ${algorithm.oid}`);
  try {
    return streamed(hash, chunks).verify(key, signature);
  } catch {
    // A signature of the wrong shape for the key (an RSA signature checked with an EC key, a mangled ECDSA DER) does not verify.
    return false;
  }
}

function streamed(hash: string, chunks: Iterable<Buffer>): ReturnType<typeof createVerify> {
  const verifier = createVerify(hash);
  for (const chunk of chunks) verifier.update(chunk);
  return verifier;
}

// RSASSA-PSS-params: [0] hashAlgorithm (default SHA-1), [1] maskGenAlgorithm (MGF1 with the same hash is all node supports), [2] saltLength (default 20).
function pssParameters(parameters: Buffer | undefined): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  if (!parameters) return { hash, saltLength };
  const sequence = expectTlv(parameters, 0, parameters.length, Tag.sequence, 'RSASSA-PSS-params');
  for (const field of children(parameters, sequence, 'RSASSA-PSS-params')) {
    const inner = readTlv(parameters, field.valueStart, field.end, 'RSASSA-PSS-params');
    if (field.tag === 0xa0) {
      const oid = children(parameters, inner, 'hashAlgorithm')[0];
      const name = oid && hashOids[decodeOid(value(parameters, oid))];
      if (!name) throw new CrlFormatError('RSA-PSS: unsupported hash algorithm');
      hash = name;
    } else if (field.tag === 0xa2) {
      saltLength = Number.parseInt(value(parameters, inner).toString('hex'), 16);
    }
  }
  return { hash, saltLength };
}
