// The few certificate fields revocation needs, read from the DER with the same
// reader as the CRL scanner: serial, issuer and subject names (raw DER, to
// compare with a CRL's issuer byte for byte), key identifiers and cRLSign.
import { createHash, X509Certificate } from 'node:crypto';
import { CrlFormatError, children, expectTlv, readTlv, serialKey, Tag, type Tlv, value, whole } from './der.js';

// Extension OIDs as DER bytes: comparing bytes is cheaper than decoding, and this runs on every check.
const subjectKeyIdentifierOid = Buffer.from([0x55, 0x1d, 0x0e]);
const authorityKeyIdentifierOid = Buffer.from([0x55, 0x1d, 0x23]);
const keyUsageOid = Buffer.from([0x55, 0x1d, 0x0f]);

export interface CertificateFields {
  serialKey: string;
  issuer: Buffer;
  subject: Buffer;
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  /** undefined when the certificate has no keyUsage extension. */
  crlSign?: boolean;
  /** The subjectPublicKey bits. */
  publicKey: Buffer;
}

/** The fields, as views into `der` (no copies: this runs on every check). */
export function certificateFields(der: Buffer): CertificateFields {
  const certificate = expectTlv(der, 0, der.length, Tag.sequence, 'Certificate');
  const tbs = expectTlv(der, certificate.valueStart, certificate.end, Tag.sequence, 'tbsCertificate');
  const parts = children(der, tbs, 'tbsCertificate');
  const fields = parts[0]?.tag === 0xa0 ? parts.slice(1) : parts;
  const [serial, , issuer, , subject, spki] = fields;
  if (!serial || serial.tag !== Tag.integer || !issuer || !subject || !spki) throw new CrlFormatError('tbsCertificate: missing fields');
  const [, publicKeyBits] = children(der, spki, 'subjectPublicKeyInfo');
  if (!publicKeyBits || publicKeyBits.tag !== Tag.bitString) throw new CrlFormatError('subjectPublicKeyInfo: missing key');
  const result: CertificateFields = {
    serialKey: serialKey(der, serial.valueStart, serial.end),
    issuer: whole(der, issuer),
    subject: whole(der, subject),
    publicKey: der.subarray(publicKeyBits.valueStart + 1, publicKeyBits.end),
  };
  const extensionsWrapper = fields.find((f) => f.tag === 0xa3);
  if (extensionsWrapper) readExtensions(der, extensionsWrapper, result);
  return result;
}

function readExtensions(der: Buffer, wrapper: Tlv, result: CertificateFields): void {
  const list = expectTlv(der, wrapper.valueStart, wrapper.end, Tag.sequence, 'extensions');
  for (const extension of children(der, list, 'extensions')) {
    const parts = children(der, extension, 'extension');
    const oid = value(der, parts[0]!);
    const content = parts[parts.length - 1]!;
    if (content.tag !== Tag.octetString) throw new CrlFormatError('extension: missing extnValue');
    if (oid.equals(subjectKeyIdentifierOid)) {
      result.subjectKeyId = value(der, expectTlv(der, content.valueStart, content.end, Tag.octetString, 'subjectKeyIdentifier'));
    } else if (oid.equals(authorityKeyIdentifierOid)) {
      const aki = expectTlv(der, content.valueStart, content.end, Tag.sequence, 'authorityKeyIdentifier');
      const keyId = children(der, aki, 'authorityKeyIdentifier').find((c) => c.tag === 0x80);
      if (keyId) result.authorityKeyId = value(der, keyId);
    } else if (oid.equals(keyUsageOid)) {
      const bits = value(der, expectTlv(der, content.valueStart, content.end, Tag.bitString, 'keyUsage'));
      // Bit 6 of KeyUsage is cRLSign: the second-lowest bit of the first byte after the unused-bits count.
      result.crlSign = bits.length >= 2 && (bits[1]! & 0x02) !== 0;
    }
  }
}

/** A trust-store certificate, ready to verify CRLs. */
export interface TrustAnchor {
  name: string;
  certificate: X509Certificate;
  fields: CertificateFields;
  /** subjectKeyIdentifier, or the SHA-1 of the key when the certificate has none. */
  keyId: Buffer;
}

/** The trust store's certificates; one that cannot be read is skipped and reported to `onUnreadable`. */
export function trustAnchors(trustStore: { name: string; pem: string }[], onUnreadable: (name: string, reason: string) => void = () => {}): TrustAnchor[] {
  const anchors: TrustAnchor[] = [];
  for (const entry of trustStore) {
    for (const block of entry.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try {
        const certificate = new X509Certificate(block);
        const fields = certificateFields(certificate.raw);
        // Without a subjectKeyIdentifier, the key id is the SHA-1 of the key bits (RFC 5280 4.2.1.2, method 1).
        const keyId = fields.subjectKeyId ?? createHash('sha1').update(fields.publicKey).digest();
        anchors.push({ name: entry.name, certificate, fields, keyId });
      } catch (error) {
        onUnreadable(entry.name, (error as Error).message);
      }
    }
  }
  return anchors;
}

/** Where, in a peer certificate's DER, the revocation check finds what it needs. */
export interface RevocationIdentity {
  der: Buffer;
  serialStart: number;
  serialEnd: number;
  issuerStart: number;
  issuerEnd: number;
  /** The authorityKeyIdentifier's keyIdentifier, when present. */
  keyIdStart?: number;
  keyIdEnd?: number;
}

// The per-check path: offsets only. Buffer views and hex strings cost more than the lookup itself.
export function revocationIdentity(der: Buffer): RevocationIdentity {
  const certificate = expectTlv(der, 0, der.length, Tag.sequence, 'Certificate');
  const tbs = expectTlv(der, certificate.valueStart, certificate.end, Tag.sequence, 'tbsCertificate');
  let element = readTlv(der, tbs.valueStart, tbs.end, 'tbsCertificate');
  if (element.tag === 0xa0) element = readTlv(der, element.end, tbs.end, 'tbsCertificate');
  if (element.tag !== Tag.integer || element.valueStart === element.end) throw new CrlFormatError('tbsCertificate: missing serial number');
  const serial = element;
  const signature = readTlv(der, serial.end, tbs.end, 'signature');
  const issuer = expectTlv(der, signature.end, tbs.end, Tag.sequence, 'issuer');
  const identity: RevocationIdentity = { der, serialStart: serial.valueStart, serialEnd: serial.end, issuerStart: issuer.headerStart, issuerEnd: issuer.end };
  let at = issuer.end;
  while (at < tbs.end) {
    element = readTlv(der, at, tbs.end, 'tbsCertificate');
    at = element.end;
    if (element.tag !== 0xa3) continue;
    const list = expectTlv(der, element.valueStart, element.end, Tag.sequence, 'extensions');
    for (let e = list.valueStart; e < list.end; ) {
      const extension = expectTlv(der, e, list.end, Tag.sequence, 'extension');
      e = extension.end;
      const oid = expectTlv(der, extension.valueStart, extension.end, Tag.oid, 'extension');
      if (oid.end - oid.valueStart !== 3 || der.compare(authorityKeyIdentifierOid, 0, 3, oid.valueStart, oid.end) !== 0) continue;
      let content = readTlv(der, oid.end, extension.end, 'authorityKeyIdentifier');
      if (content.tag === Tag.boolean) content = readTlv(der, content.end, extension.end, 'authorityKeyIdentifier');
      const aki = expectTlv(der, content.valueStart, content.end, Tag.sequence, 'authorityKeyIdentifier');
      const keyId = aki.valueStart < aki.end ? readTlv(der, aki.valueStart, aki.end, 'authorityKeyIdentifier') : undefined;
      if (keyId?.tag === 0x80) {
        identity.keyIdStart = keyId.valueStart;
        identity.keyIdEnd = keyId.end;
      }
    }
  }
  return identity;
}
