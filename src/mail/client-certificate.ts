// Validation of the client certificate presented after STARTTLS: the chain
// reaches the trust store (OpenSSL checked it against the listener's CA list:
// the system bundle plus the administrator's CAs), nothing in the chain is
// distrusted, the leaf is in its validity period, may sign (keyUsage) and is
// meant for client authentication (extendedKeyUsage), and it is not revoked.
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { type CertificateFields, parseCertificate } from './certificate-fields.js';
import type { DistrustList } from './distrust.js';

const clientAuth = '1.3.6.1.5.5.7.3.2';
const anyExtendedKeyUsage = '2.5.29.37.0';
const maxChainLength = 10;

/** What the CRL index answers for a leaf and its issuer. */
export type RevocationStatus = { status: 'good' } | { status: 'revoked'; reason: string } | { status: 'unknown'; reason: string };

export interface RevocationChecker {
  /** The leaf as TLS gave it (its issuer is found by the CRL index from the leaf's names and key ids). */
  check(leaf: PeerCertificate): RevocationStatus;
}

export interface RevocationPolicy {
  checker: RevocationChecker | undefined;
  /** What to do when the issuer has no current CRL. */
  whenUnknown: 'reject' | 'allow-and-log';
}

export type ClientCertificateVerdict =
  | { status: 'none' }
  | { status: 'valid'; fields: CertificateFields; notes: string[] }
  | { status: 'invalid'; reason: string; subject?: string };

const chainErrors: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not yet valid',
  INVALID_PURPOSE: 'the certificate is not meant for client authentication (extendedKeyUsage)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the chain does not reach a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'the chain does not reach a trusted CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain does not reach a trusted CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed and not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the chain does not reach a trusted CA',
  CERT_SIGNATURE_FAILURE: 'the certificate signature does not verify',
};

function describeChainError(code: string): string {
  return `${chainErrors[code] ?? 'the chain does not verify'} (${code})`;
}

/** The peer's chain, leaf first, stopping at a self-issued certificate, a repeat or the length limit (seed 81754). */
export function peerChain(socket: TLSSocket): DetailedPeerCertificate[] {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf?.raw) return [];
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  for (let c: DetailedPeerCertificate | undefined = leaf; c?.raw && chain.length < maxChainLength; c = c.issuerCertificate) {
    if (seen.has(c.fingerprint256)) break;
    seen.add(c.fingerprint256);
    chain.push(c);
  }
  return chain;
}

export function verifyClientCertificate(socket: TLSSocket, distrust: DistrustList, revocation: RevocationPolicy, now = new Date()): ClientCertificateVerdict {
  const chain = peerChain(socket);
  const leafPeer = chain[0];
  if (!leafPeer) return { status: 'none' };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPeer.raw);
  } catch {
    return { status: 'invalid', reason: 'the certificate cannot be parsed' };
  }
  const subject = leaf.subject.replace(/\n/g, ', ');
  const invalid = (reason: string): ClientCertificateVerdict => ({ status: 'invalid', reason, subject });

  for (const c of chain) {
    const hit = distrust.match(c);
    if (hit) return invalid(`${c === leafPeer ? 'the certificate' : `its issuer ${c.subject?.CN ?? ''}`.trim()} is distrusted (${hit.name}): ${hit.reason}`);
  }
  if (!socket.authorized) return invalid(describeChainError(String(socket.authorizationError ?? 'unknown error')));
  if (now < new Date(leaf.validFrom)) return invalid(`the certificate is not valid before ${leaf.validFrom}`);
  if (now > new Date(leaf.validTo)) return invalid(`the certificate expired on ${leaf.validTo}`);

  let parsed: ReturnType<typeof parseCertificate>;
  try {
    parsed = parseCertificate(leaf);
  } catch (err) {
    return invalid(`the certificate's extensions cannot be read: ${(err as Error).message}`);
  }
  const { keyUsage, extendedKeyUsage } = parsed.usage;
  if (keyUsage && !keyUsage.digitalSignature) return invalid('its keyUsage does not allow digitalSignature');
  if (extendedKeyUsage && !extendedKeyUsage.includes(clientAuth) && !extendedKeyUsage.includes(anyExtendedKeyUsage)) {
    return invalid('its extendedKeyUsage does not include clientAuth');
  }

  const notes: string[] = [];
  if (revocation.checker) {
    const status = revocation.checker.check(leafPeer);
    if (status.status === 'revoked') return invalid(`the certificate is revoked (${status.reason})`);
    if (status.status === 'unknown') {
      if (revocation.whenUnknown === 'reject') return invalid(`revocation cannot be checked: ${status.reason}`);
      notes.push(`revocation not checked: ${status.reason}`);
    }
  }
  return { status: 'valid', fields: parsed.fields, notes };
}
