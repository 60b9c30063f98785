// X.500 names as text, written one way everywhere (RFC 4514): the RDNs of the
// DER in reverse, most significant last ("CN=alice,O=Example,C=US"), the values
// of a multi-valued RDN joined by "+", special characters escaped. Certificate
// subjects and issuers in every log line, console listing and LDAP certificate
// query come from here. The DER is read directly (not through OpenSSL's or
// pkijs's renderings, which merge or reorder multi-valued RDNs).
import type { X509Certificate } from 'node:crypto';

/** Short names of the attribute types found in certificate and CRL names; any other type is written as its dotted OID. */
export const attributeShortNames: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

class NameFormatError extends Error {}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new NameFormatError('truncated');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new NameFormatError('multi-byte tags are not used in names');
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || contentStart + bytes > limit) throw new NameFormatError('bad length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += bytes;
  }
  const end = contentStart + length;
  if (end > limit) throw new NameFormatError('truncated');
  return { tag, start: offset, contentStart, end };
}

function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let n = 0;
  for (const b of bytes) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
      else parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The text of a directory string, or undefined for a type that is not a string (written as #hex). */
function decodeString(tag: number, content: Uint8Array): string | undefined {
  const bytes = Buffer.from(content);
  switch (tag) {
    case 0x0c: // UTF8String
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return bytes.toString('utf8');
    case 0x14: // TeletexString: read as Latin-1, as OpenSSL and most software do
      return bytes.toString('latin1');
    case 0x1e: {
      // BMPString: UTF-16 big-endian
      if (bytes.length % 2) return undefined;
      return Buffer.from(bytes).swap16().toString('utf16le');
    }
    case 0x1c: {
      // UniversalString: UTF-32 big-endian
      if (bytes.length % 4) return undefined;
      let text = '';
      for (let i = 0; i < bytes.length; i += 4) {
        const code = bytes.readUInt32BE(i);
        if (code > 0x10ffff) return undefined;
        text += String.fromCodePoint(code);
      }
      return text;
    }
    default:
      return undefined;
  }
}

/**
 * An attribute value escaped as RFC 4514 section 2.4 says: `"+,;<>\` anywhere, a
 * leading space or #, a trailing space; NUL and every other control character
 * as \HH (allowed by the RFC, and a log line can never be split by a name).
 */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  return chars
    .map((ch, i) => {
      const code = ch.codePointAt(0)!;
      if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
      if ('"+,;<>\\'.includes(ch)) return `\\${ch}`;
      if ((i === 0 && (ch === ' ' || ch === '#')) || (i === chars.length - 1 && ch === ' ')) return `\\${ch}`;
      return ch;
    })
    .join('');
}

function formatAttribute(der: Uint8Array, attribute: Tlv): string {
  const [type, valueTlv, extra] = childrenOf(der, attribute);
  if (attribute.tag !== 0x30 || !type || type.tag !== 0x06 || !valueTlv || extra) throw new NameFormatError('bad AttributeTypeAndValue');
  const oid = decodeOid(der.subarray(type.contentStart, type.end));
  const short = attributeShortNames[oid];
  const text = short ? decodeString(valueTlv.tag, der.subarray(valueTlv.contentStart, valueTlv.end)) : undefined;
  // An unknown type, or a value that is not a string, is written as the hex of its BER encoding (RFC 4514 2.4).
  return `${short ?? oid}=${text === undefined ? `#${hex(der.subarray(valueTlv.start, valueTlv.end))}` : escapeDnValue(text)}`;
}

/** The RFC 4514 string of a DER Name; an unreadable name is described, never thrown. */
export function formatName(der: Uint8Array): string {
  try {
    const name = readTlv(der, 0, der.length);
    if (name.tag !== 0x30 || name.end !== der.length) throw new NameFormatError('not a Name');
    const rdns = childrenOf(der, name).map((rdn) => {
      if (rdn.tag !== 0x31) throw new NameFormatError('bad RDN');
      const attributes = childrenOf(der, rdn);
      if (attributes.length === 0) throw new NameFormatError('empty RDN');
      return attributes.map((a) => formatAttribute(der, a)).join('+');
    });
    return rdns.reverse().join(',');
  } catch {
    return `(unreadable name ${hex(der.subarray(0, 16))}${der.length > 16 ? '…' : ''})`;
  }
}

/** The issuer and subject Names of a DER certificate, as their DER. */
export function certificateNameDers(certificate: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } {
  const outer = readTlv(certificate, 0, certificate.length);
  const tbs = readTlv(certificate, outer.contentStart, outer.end);
  const fields = childrenOf(certificate, tbs);
  const [, , issuer, , subject] = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  if (!issuer || !subject) throw new NameFormatError('tbsCertificate: missing names');
  return { issuer: certificate.subarray(issuer.start, issuer.end), subject: certificate.subarray(subject.start, subject.end) };
}

type CertificateInput = Pick<X509Certificate, 'raw'> | { raw: Uint8Array } | Uint8Array;

function rawOf(certificate: CertificateInput): Uint8Array {
  return certificate instanceof Uint8Array ? certificate : certificate.raw;
}

/** The certificate's subject, RFC 4514. */
export function subjectName(certificate: CertificateInput): string {
  try {
    return formatName(certificateNameDers(rawOf(certificate)).subject);
  } catch {
    return '(unreadable certificate)';
  }
}

/** The certificate's issuer, RFC 4514. */
export function issuerName(certificate: CertificateInput): string {
  try {
    return formatName(certificateNameDers(rawOf(certificate)).issuer);
  } catch {
    return '(unreadable certificate)';
  }
}
