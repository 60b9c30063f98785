// The streaming CRL scanner: one pass over the DER, no ASN.1 tree. Revoked
// serials go straight into a Map (serial key -> reason code); the TBS bytes and
// the signature are kept as slices of the input for node:crypto to verify.
// pkijs builds an object per node and cannot hold a DoD-sized CRL; this holds
// one small string per entry.
import { CrlFormatError, children, decodeOid, decodeTime, decodeUnsigned, expectTlv, readTlv, serialKey, Tag, type Tlv, value, whole } from './der.js';

export interface AlgorithmIdentifier {
  oid: string;
  /** The parameters element, whole DER, when present and not NULL. */
  parameters?: Buffer;
}

export interface ScannedCrl {
  /** The issuer Name, raw DER, compared byte for byte with the trust store's subjects. */
  issuer: Buffer;
  authorityKeyId?: Buffer;
  crlNumber?: bigint;
  /** Set on a delta CRL: the CRL number of the base it applies to. */
  deltaCrlIndicator?: bigint;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Serial key (see serialKey) -> CRLReason code. */
  revoked: Map<string, number>;
  /** The signed bytes, tbsCertList whole. */
  tbs: Buffer;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
}

const oids = {
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  freshestCrl: '2.5.29.46',
  issuerAltName: '2.5.29.18',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  expiredCertsOnCrl: '2.5.29.60',
} as const;

// reasonCode 2.5.29.21 and invalidityDate 2.5.29.24, as encoded OID bytes.
const reasonCodeOid = Buffer.from([0x55, 0x1d, 0x15]);
const invalidityDateOid = Buffer.from([0x55, 0x1d, 0x18]);
// The usual entry extensions, a non-critical reasonCode alone, less its final value byte.
const onlyReason = Buffer.from([0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01]);

/** Scans a DER CRL. Throws CrlFormatError, with what and where, for anything malformed or unsupported. */
export function scanCrl(der: Buffer): ScannedCrl {
  if (der.length === 0) throw new CrlFormatError('the CRL is empty');
  if (der[0] !== Tag.sequence) throw new CrlFormatError(`the body is not a DER CRL: it starts with ${preview(der)}`);
  const list = expectTlv(der, 0, der.length, Tag.sequence, 'CertificateList');
  if (list.end !== der.length) throw new CrlFormatError(`CertificateList: ${der.length - list.end} bytes of trailing data`);
  const tbsTlv = expectTlv(der, list.valueStart, list.end, Tag.sequence, 'tbsCertList');
  const outerAlgorithmTlv = expectTlv(der, tbsTlv.end, list.end, Tag.sequence, 'signatureAlgorithm');
  const signatureTlv = expectTlv(der, outerAlgorithmTlv.end, list.end, Tag.bitString, 'signatureValue');
  if (signatureTlv.end !== list.end) throw new CrlFormatError('CertificateList: unexpected element after signatureValue');
  if (signatureTlv.end - signatureTlv.valueStart < 2 || der[signatureTlv.valueStart] !== 0) throw new CrlFormatError('signatureValue: not a whole-byte BIT STRING');

  let at = tbsTlv.valueStart;
  const limit = tbsTlv.end;
  let element = readTlv(der, at, limit, 'tbsCertList');
  if (element.tag === Tag.integer) {
    const version = value(der, element);
    if (version.length !== 1 || version[0] !== 1) throw new CrlFormatError(`tbsCertList: unsupported version ${version.toString('hex')} (only v2 has a version field)`);
    at = element.end;
    element = readTlv(der, at, limit, 'tbsCertList signature');
  }
  if (element.tag !== Tag.sequence) throw new CrlFormatError('tbsCertList: expected the signature AlgorithmIdentifier');
  if (!whole(der, element).equals(whole(der, outerAlgorithmTlv))) throw new CrlFormatError('the signature algorithm inside the CRL differs from the one outside it');
  at = element.end;
  const issuerTlv = expectTlv(der, at, limit, Tag.sequence, 'issuer');
  at = issuerTlv.end;
  const thisUpdateTlv = readTlv(der, at, limit, 'thisUpdate');
  const thisUpdate = decodeTime(der, thisUpdateTlv, 'thisUpdate');
  at = thisUpdateTlv.end;
  let nextUpdate: Date | undefined;
  let revoked: Map<string, number> | undefined;
  let extensionsTlv: Tlv | undefined;
  while (at < limit) {
    const next = readTlv(der, at, limit, 'tbsCertList');
    if ((next.tag === Tag.utcTime || next.tag === Tag.generalizedTime) && nextUpdate === undefined && !revoked && !extensionsTlv) {
      nextUpdate = decodeTime(der, next, 'nextUpdate');
    } else if (next.tag === Tag.sequence && !revoked && !extensionsTlv) {
      revoked = scanRevoked(der, next.valueStart, next.end);
    } else if (next.tag === 0xa0 && !extensionsTlv) {
      extensionsTlv = next;
    } else {
      throw new CrlFormatError(`tbsCertList: unexpected element with tag 0x${next.tag.toString(16)} at byte ${at}`);
    }
    at = next.end;
  }

  const crl: ScannedCrl = {
    issuer: Buffer.from(whole(der, issuerTlv)),
    thisUpdate,
    revoked: revoked ?? new Map(),
    tbs: whole(der, tbsTlv),
    signatureAlgorithm: algorithmIdentifier(der, outerAlgorithmTlv),
    signature: der.subarray(signatureTlv.valueStart + 1, signatureTlv.end),
  };
  if (nextUpdate) crl.nextUpdate = nextUpdate;
  if (extensionsTlv) readCrlExtensions(der, extensionsTlv, crl);
  return crl;
}

function preview(der: Buffer): string {
  const head = der.subarray(0, 16);
  return /^[\x20-\x7e]+$/.test(head.toString('latin1')) ? `"${head.toString('latin1')}"` : `bytes ${head.toString('hex')}`;
}

function algorithmIdentifier(der: Buffer, tlv: Tlv): AlgorithmIdentifier {
  const [oid, parameters] = children(der, tlv, 'AlgorithmIdentifier');
  if (!oid || oid.tag !== Tag.oid) throw new CrlFormatError('AlgorithmIdentifier: missing algorithm OID');
  const algorithm: AlgorithmIdentifier = { oid: decodeOid(value(der, oid)) };
  if (parameters && parameters.tag !== Tag.null) algorithm.parameters = Buffer.from(whole(der, parameters));
  return algorithm;
}

function readCrlExtensions(der: Buffer, wrapper: Tlv, crl: ScannedCrl): void {
  const list = expectTlv(der, wrapper.valueStart, wrapper.end, Tag.sequence, 'crlExtensions');
  if (list.end !== wrapper.end) throw new CrlFormatError('crlExtensions: trailing data');
  for (const extension of children(der, list, 'crlExtensions')) {
    const { oid: oidBytes, critical, content } = readExtension(der, extension, 'CRL extension');
    const oid = decodeOid(oidBytes);
    switch (oid) {
      case oids.authorityKeyIdentifier: {
        const aki = expectTlv(der, content.valueStart, content.end, Tag.sequence, 'authorityKeyIdentifier');
        const keyId = children(der, aki, 'authorityKeyIdentifier').find((c) => c.tag === 0x80);
        if (keyId) crl.authorityKeyId = Buffer.from(value(der, keyId));
        break;
      }
      case oids.crlNumber:
        crl.crlNumber = decodeUnsigned(value(der, expectTlv(der, content.valueStart, content.end, Tag.integer, 'cRLNumber')), 'cRLNumber');
        break;
      case oids.deltaCrlIndicator:
        crl.deltaCrlIndicator = decodeUnsigned(value(der, expectTlv(der, content.valueStart, content.end, Tag.integer, 'deltaCRLIndicator')), 'deltaCRLIndicator');
        break;
      case oids.issuingDistributionPoint:
        checkIssuingDistributionPoint(der, content);
        break;
      case oids.freshestCrl:
      case oids.issuerAltName:
      case oids.authorityInfoAccess:
      case oids.expiredCertsOnCrl:
        break;
      default:
        if (critical) throw new CrlFormatError(`the CRL has a critical extension this appliance does not understand (${oid})`);
    }
  }
}

// A CRL limited to some reasons, or listing other issuers' certificates, cannot be read as "not listed = not revoked".
function checkIssuingDistributionPoint(der: Buffer, content: Tlv): void {
  const idp = expectTlv(der, content.valueStart, content.end, Tag.sequence, 'issuingDistributionPoint');
  for (const field of children(der, idp, 'issuingDistributionPoint')) {
    if (field.tag === 0x83) throw new CrlFormatError('the CRL covers only some revocation reasons (onlySomeReasons): not supported');
    if (field.tag === 0x84 && value(der, field)[0]) throw new CrlFormatError('indirect CRLs are not supported');
  }
}

function readExtension(der: Buffer, extension: Tlv, what: string): { oid: Buffer; critical: boolean; content: Tlv } {
  if (extension.tag !== Tag.sequence) throw new CrlFormatError(`${what}: expected a SEQUENCE`);
  const parts = children(der, extension, what);
  const [oidTlv, second, third] = parts;
  if (!oidTlv || oidTlv.tag !== Tag.oid) throw new CrlFormatError(`${what}: missing extnID`);
  const critical = second?.tag === Tag.boolean && value(der, second)[0] !== 0;
  const octets = second?.tag === Tag.boolean ? third : second;
  if (!octets || octets.tag !== Tag.octetString) throw new CrlFormatError(`${what}: missing extnValue`);
  return { oid: value(der, oidTlv), critical, content: octets };
}

// The hot loop: up to millions of entries. It reads headers inline rather than
// through readTlv, so no object is made per element except the serial string.
function scanRevoked(der: Buffer, start: number, end: number): Map<string, number> {
  const revoked = new Map<string, number>();
  let at = start;
  while (at < end) {
    if (der[at] !== Tag.sequence) throw new CrlFormatError(`revokedCertificates: entry at byte ${at} is not a SEQUENCE`);
    const entryEnd = elementEnd(der, at, end, 'revokedCertificates entry');
    const entryValue = valueStartOf(der, at);
    if (der[entryValue] !== Tag.integer) throw new CrlFormatError(`revokedCertificates: entry at byte ${at} has no serial number`);
    const serialEnd = elementEnd(der, entryValue, entryEnd, 'userCertificate');
    const serialStart = valueStartOf(der, entryValue);
    if (serialStart === serialEnd) throw new CrlFormatError(`revokedCertificates: empty serial number at byte ${at}`);
    const dateTag = der[serialEnd];
    if (dateTag !== Tag.utcTime && dateTag !== Tag.generalizedTime) throw new CrlFormatError(`revokedCertificates: entry at byte ${at} has no revocationDate`);
    const dateEnd = elementEnd(der, serialEnd, entryEnd, 'revocationDate');
    const reason =
      dateEnd === entryEnd
        ? 0
        : entryEnd - dateEnd === onlyReason.length + 1 && der.compare(onlyReason, 0, onlyReason.length, dateEnd, entryEnd - 1) === 0
          ? der[entryEnd - 1]!
          : entryReason(der, dateEnd, entryEnd);
    revoked.set(serialKey(der, serialStart, serialEnd), reason);
    at = entryEnd;
  }
  return revoked;
}

function entryReason(der: Buffer, at: number, entryEnd: number): number {
  const list = expectTlv(der, at, entryEnd, Tag.sequence, 'crlEntryExtensions');
  if (list.end !== entryEnd) throw new CrlFormatError(`revokedCertificates: trailing data in the entry at byte ${at}`);
  let reason = 0;
  for (const extension of children(der, list, 'crlEntryExtensions')) {
    const { oid, critical, content } = readExtension(der, extension, 'CRL entry extension');
    if (oid.equals(reasonCodeOid)) {
      const enumerated = expectTlv(der, content.valueStart, content.end, Tag.enumerated, 'reasonCode');
      if (enumerated.end - enumerated.valueStart !== 1) throw new CrlFormatError(`reasonCode: bad value at byte ${enumerated.headerStart}`);
      reason = der[enumerated.valueStart]!;
    } else if (critical && !oid.equals(invalidityDateOid)) {
      throw new CrlFormatError(`a CRL entry has a critical extension this appliance does not understand (${decodeOid(oid)}); indirect CRLs are not supported`);
    }
  }
  return reason;
}

function valueStartOf(der: Buffer, at: number): number {
  const first = der[at + 1]!;
  return first < 0x80 ? at + 2 : at + 2 + (first & 0x7f);
}

function elementEnd(der: Buffer, at: number, limit: number, what: string): number {
  if (at + 2 > limit) throw new CrlFormatError(`${what}: truncated at byte ${at}`);
  const first = der[at + 1]!;
  if (first < 0x80) {
    const end = at + 2 + first;
    if (end > limit) throw new CrlFormatError(`${what}: truncated at byte ${at}`);
    return end;
  }
  return readTlv(der, at, limit, what).end;
}
