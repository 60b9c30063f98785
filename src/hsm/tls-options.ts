// Node tls options for a certificate whose private key stays in the HSM: the
// chain comes from the token, the key is an RFC 7512 URI the OpenSSL pkcs11
// engine (libp11) opens, with the PIN read from a file rather than put in the URI.
import type { HsmCertificates } from './certificates.js';
import { HsmError } from './module.js';
import { toPem } from './pem.js';

/**
 * The engine is named by id, found in OPENSSL_ENGINES. Named by path, Node loads a
 * new engine for every TLS context and libp11 refuses the second one in a process
 * (nodejs/node#50851), so a reload or a second listener could not get its key.
 * Found by id, OpenSSL adds the engine to its list once and every context shares it.
 */
export const pkcs11Engine = 'pkcs11';
export const opensslEnginesDir = '/usr/lib/x86_64-linux-gnu/engines-3';

function useSharedEngine(): void {
  process.env.OPENSSL_ENGINES ??= opensslEnginesDir;
}

export interface HsmTlsOptions {
  cert: string;
  privateKeyEngine: string;
  privateKeyIdentifier: string;
}

export interface TokenReference {
  tokenLabel: string;
  /** The crypto-user PIN file (pin.ts userPinFile). */
  pinFile: string;
}

export function pkcs11Uri(token: TokenReference, objectLabel: string): string {
  // libp11 splits the URI on ; ? and &, and does not decode the pin-source path.
  if (/[;?&%\s]/.test(token.pinFile)) throw new HsmError('bad-input', `the PIN file path ${token.pinFile} cannot go into a PKCS#11 URI`);
  return `pkcs11:token=${encodeURIComponent(token.tokenLabel)};object=${encodeURIComponent(objectLabel)};type=private?pin-source=file:${token.pinFile}`;
}

export async function tlsOptionsFor(certificates: HsmCertificates, label: string, token: TokenReference): Promise<HsmTlsOptions> {
  const chain = await certificates.chainDer(label);
  useSharedEngine();
  return {
    cert: chain.map((der) => toPem(der)).join(''),
    privateKeyEngine: pkcs11Engine,
    privateKeyIdentifier: pkcs11Uri(token, label),
  };
}
