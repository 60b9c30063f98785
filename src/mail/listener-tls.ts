// A listener's server-side TLS settings: the key in the HSM through the OpenSSL engine
// (never a key file), the client-certificate CAs as the only trust anchors and the
// CertificateRequest's list, TLS 1.2 at least with forward-secret AEAD suites, and no
// renegotiation. Revocation and the distrust list are checked after the handshake
// (client-certificate.ts), not by OpenSSL.
import { constants as cryptoConstants } from 'node:crypto';

/** What a listener's TLS needs from the HSM: the certificate chain and the engine's key reference. */
export interface HsmTlsMaterial {
  cert: string;
  privateKeyEngine: string;
  privateKeyIdentifier: string;
}

/** TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all of that kind). */
const tls12Ciphers = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

const noRenegotiation = cryptoConstants.SSL_OP_NO_RENEGOTIATION ?? 0x40000000;

/** smtp-server's TLS options for a listener: without HSM material no key at all (smtp-server would otherwise use its bundled localhost key). */
export function listenerTlsOptions(tls: HsmTlsMaterial | undefined, clientCaPems: string[]) {
  return {
    ...(tls
      ? { cert: tls.cert, key: null as unknown as string, privateKeyEngine: tls.privateKeyEngine, privateKeyIdentifier: tls.privateKeyIdentifier }
      : { cert: null as unknown as string, key: null as unknown as string }),
    ca: clientCaPems, // an empty list trusts nothing (Node adds its bundled roots only when `ca` is absent)
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
    ciphers: tls12Ciphers,
    secureOptions: noRenegotiation,
  };
}
