// Validation of the client certificate presented after STARTTLS: OpenSSL
// verified the chain against the listener's client-certificate CAs (Node's
// `ca`, trust-store.ts); here the chain is walked again, leaf to self-signed
// root, each link checked (issuer name and key ids, and the signature), so that
// what is checked is a real chain: nothing in it is distrusted, it has at most
// `maxIntermediates` CAs between leaf and root, and it ends at a CA the listener
// trusts. Then the leaf is in its validity period, may sign (keyUsage), is meant
// for client authentication (extendedKeyUsage), and is not revoked.
//
// The depth limit. Node's TLS server cannot set OpenSSL's verify depth
// (SSL_CTX_set_verify_depth is not exposed; its default, 100, stays), so the
// walk is the limit, on the chain Node rebuilt from the certificates OpenSSL
// verified (getPeerCertificate(true): the peer's certificates in issuer order,
// completed from the listener's CA list). The walk stops after leaf +
// maxIntermediates + root whatever comes next, and a chain it cannot follow to
// a self-signed root (a missing issuer, a loop, a link whose signature does not
// verify) is refused, never accepted on the part it has seen: an attacker
// cannot hide a distrusted root behind a long, looping or cut chain. Counting
// as OpenSSL does (SSL_CTX_set_verify_depth(8)): 8 intermediates are allowed, 9
// are not.
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { subjectName } from '../hsm/x509-name.js';
import { type CertificateFields, parseCertificate } from './certificate-fields.js';
import type { DistrustList } from './distrust.js';

const clientAuth = '1.3.6.1.5.5.7.3.2';
const anyExtendedKeyUsage = '2.5.29.37.0';
/** CA certificates allowed between the leaf and the root (OpenSSL's verify depth). */
export const maxIntermediates = 8;

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

export type ChainWalk =
  /** Leaf first, the self-signed root last. */
  | { status: 'complete'; chain: X509Certificate[] }
  /** What was walked before the walk could go no further, and why. */
  | { status: 'broken'; chain: X509Certificate[]; reason: string };

function sameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  return a.raw.equals(b.raw);
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The chain from the leaf Node gives (issuerCertificate links) up to its self-signed root, every link checked. */
export function walkChain(leaf: DetailedPeerCertificate): ChainWalk {
  const chain: X509Certificate[] = [];
  const broken = (reason: string): ChainWalk => ({ status: 'broken', chain, reason });
  let current: DetailedPeerCertificate = leaf;
  for (;;) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(current.raw);
    } catch {
      return broken(chain.length ? `a CA certificate of the chain cannot be parsed (after ${subjectName(chain.at(-1)!)})` : 'the certificate cannot be parsed');
    }
    if (chain.some((c) => sameCertificate(c, certificate))) return broken(`the chain loops back to ${subjectName(certificate)}`);
    const previous = chain.at(-1);
    if (previous && !signedBy(previous, certificate)) return broken(`${subjectName(previous)} is not signed by ${subjectName(certificate)}`);
    chain.push(certificate);
    const next = current.issuerCertificate;
    // Node links a self-issued certificate to itself: the end of the chain, if it is a self-signed root.
    if (next === current || (next?.raw && certificate.raw.equals(next.raw))) {
      if (chain.length > 1 && signedBy(certificate, certificate)) return { status: 'complete', chain };
      return broken(chain.length === 1 ? 'the certificate is self-signed' : `${subjectName(certificate)} is self-issued but not a self-signed root`);
    }
    if (chain.length - 1 >= maxIntermediates + 1) return broken(`the chain has more than ${maxIntermediates} intermediate CAs (the most allowed)`);
    if (!next?.raw) return broken(`the chain is incomplete: the issuer of ${subjectName(certificate)} is missing`);
    current = next;
  }
}

/**
 * `anchors`: the certificates of the listener's client-certificate CAs, the list OpenSSL verified against.
 */
export function verifyClientCertificate(
  socket: TLSSocket,
  anchors: X509Certificate[],
  distrust: DistrustList,
  revocation: RevocationPolicy,
  now = new Date(),
): ClientCertificateVerdict {
  const leafPeer = socket.getPeerCertificate(true);
  if (!leafPeer?.raw) return { status: 'none' };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPeer.raw);
  } catch {
    return { status: 'invalid', reason: 'the certificate cannot be parsed' };
  }
  const subject = subjectName(leaf);
  const invalid = (reason: string): ClientCertificateVerdict => ({ status: 'invalid', reason, subject });

  const walk = walkChain(leafPeer);
  // The trust-store copy of the root may differ from the one the client sent (same name and key, other bytes): both are asked.
  const root = walk.status === 'complete' ? walk.chain.at(-1) : undefined;
  const anchor = root ? anchors.find((a) => sameCertificate(a, root) || (a.subject === root.subject && a.publicKey.equals(root.publicKey))) : undefined;
  for (const c of [...walk.chain, ...(anchor ? [anchor] : [])]) {
    const hit = distrust.match(c);
    if (hit) return invalid(`${c === walk.chain[0] ? 'the certificate' : `its issuer ${subjectName(c)}`} is distrusted (${hit.name}): ${hit.reason}`);
  }
  if (!socket.authorized) return invalid(describeChainError(String(socket.authorizationError ?? 'unknown error')));
  if (walk.status === 'broken') return invalid(walk.reason);
  if (!anchor) return invalid(`the chain ends at ${subjectName(root!)}, which is not among the CAs this listener trusts`);
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
