// The streaming CRL scanner: one pass over the DER, no ASN.1 tree. Revoked
// serials go straight into a Map (serial key -> reason code). A downloaded or
// saved CRL is scanned from its file a window at a time, so the body is never
// held in memory whole; the TBS bytes are read again from the file when the
// signature is checked. pkijs builds an object per node and cannot hold a
// DoD-sized CRL; this holds one small string per entry.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
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
  /** The signed bytes, tbsCertList whole: read again (from the file, for a file scan) when verified. */
  tbs: SignedBytes;
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

/** The bytes a scan reads: a Buffer in memory, or a file read a piece at a time. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [start, end), the caller's to keep: a view of a Buffer, a fresh read of a file. */
  read(start: number, end: number): Buffer;
  /** Bytes [start, end), valid only until the next call: a file source reads them into one reused buffer. */
  window(start: number, end: number): Buffer;
}

/** The signed bytes (tbsCertList whole), fed to the verifier a piece at a time; each piece is valid only until the next. */
export interface SignedBytes {
  readonly length: number;
  chunks(): Iterable<Buffer>;
}

export function bufferSource(der: Buffer): ByteSource {
  const view = (start: number, end: number) => der.subarray(start, end);
  return { size: der.length, read: view, window: view };
}

export function fileSource(path: string): ByteSource {
  const size = statSync(path).size;
  let scratch: Buffer | undefined;
  const readInto = (out: Buffer, start: number) => {
    const fd = openSync(path, 'r');
    try {
      for (let got = 0; got < out.length; ) {
        const n = readSync(fd, out, got, out.length - got, start + got);
        if (n === 0) throw new CrlFormatError(`${path} became shorter while it was read`);
        got += n;
      }
      return out;
    } finally {
      closeSync(fd);
    }
  };
  return {
    size,
    read: (start, end) => readInto(Buffer.allocUnsafe(end - start), start),
    window(start, end) {
      // One buffer for every window: the scan copies out what it keeps (serials as strings), so a big CRL leaves no garbage of windows.
      if (!scratch || scratch.length < end - start) scratch = Buffer.allocUnsafe(end - start);
      return readInto(scratch.subarray(0, end - start), start);
    },
  };
}

// The parts before the revoked list (version, algorithm, issuer, dates) and after it
// (extensions, signature) take a few hundred bytes in real CRLs: each is read whole.
// The revoked list, the bulk of a big CRL, is scanned a window at a time.
const headBytes = 1 << 20;
const tailBytes = 1 << 20;
const windowBytes = 4 << 20;
const maxEntryBytes = 64 << 10;

/** Scans a DER CRL in memory. Throws CrlFormatError, with what and where, for anything malformed or unsupported. */
export function scanCrl(der: Buffer): ScannedCrl {
  return scanSource(bufferSource(der));
}

/** Scans a DER CRL file without holding it in memory: the revoked list a window at a time; the signed bytes are read again when verified. */
export function scanCrlFile(path: string, windowSize = windowBytes): ScannedCrl {
  return scanSource(fileSource(path), windowSize);
}

export function scanSource(source: ByteSource, windowSize = windowBytes): ScannedCrl {
  const size = source.size;
  if (size === 0) throw new CrlFormatError('the CRL is empty');
  const head = source.read(0, Math.min(size, headBytes));
  // Never the bytes themselves in a message: the body may be anything a server sent.
  if (head[0] !== Tag.sequence) throw new CrlFormatError(`the body is not a DER CRL (${size} bytes that do not start with a SEQUENCE)`);
  const list = expectTlv(head, 0, size, Tag.sequence, 'CertificateList');
  if (list.end !== size) throw new CrlFormatError(`CertificateList: ${size - list.end} bytes of trailing data`);
  const tbsTlv = expectTlv(head, list.valueStart, list.end, Tag.sequence, 'tbsCertList');
  const limit = tbsTlv.end;
  const tooLong = () => new CrlFormatError(`tbsCertList: the fields before the revoked list take more than ${headBytes} bytes`);
  /** The element at `at`, which must lie in the head whole (`headerOnly`: its header). */
  const headElement = (at: number, what: string, headerOnly = false): Tlv => {
    if (head.length < size && at + 6 > head.length) throw tooLong();
    const tlv = readTlv(head, at, limit, what);
    if (!headerOnly && tlv.end > head.length) throw tooLong();
    return tlv;
  };

  let at = tbsTlv.valueStart;
  let element = headElement(at, 'tbsCertList');
  if (element.tag === Tag.integer) {
    const version = value(head, element);
    if (version.length !== 1 || version[0] !== 1)
      throw new CrlFormatError(`tbsCertList: unsupported version${version.length === 1 ? ` ${version[0]! + 1}` : ''} (only v2 has a version field)`);
    at = element.end;
    element = headElement(at, 'tbsCertList signature');
  }
  if (element.tag !== Tag.sequence) throw new CrlFormatError('tbsCertList: expected the signature AlgorithmIdentifier');
  const innerAlgorithm = Buffer.from(whole(head, element));
  at = element.end;
  const issuerTlv = headElement(at, 'issuer');
  if (issuerTlv.tag !== Tag.sequence) throw new CrlFormatError(`issuer: expected tag 0x30, found 0x${issuerTlv.tag.toString(16)} at byte ${at}`);
  at = issuerTlv.end;
  const thisUpdateTlv = headElement(at, 'thisUpdate');
  const thisUpdate = decodeTime(head, thisUpdateTlv, 'thisUpdate');
  at = thisUpdateTlv.end;
  let nextUpdate: Date | undefined;
  let revoked: Map<string, number> | undefined;
  if (at < limit) {
    const next = headElement(at, 'tbsCertList', true);
    if (next.tag === Tag.utcTime || next.tag === Tag.generalizedTime) {
      nextUpdate = decodeTime(head, headElement(at, 'nextUpdate'), 'nextUpdate');
      at = next.end;
    }
  }
  if (at < limit) {
    const next = headElement(at, 'tbsCertList', true);
    if (next.tag === Tag.sequence) {
      revoked = scanRevokedWindows(source, next.valueStart, next.end, windowSize);
      at = next.end;
    }
  }
  const issuer = Buffer.from(whole(head, issuerTlv));

  // The rest, read whole; offsets into it are from `base`.
  const base = at;
  if (size - base > tailBytes) throw new CrlFormatError(`tbsCertList: ${size - base} bytes of extensions and signature after the revoked list (more than ${tailBytes})`);
  const tail = Buffer.from(source.read(base, size));
  let extensionsTlv: Tlv | undefined;
  for (let p = 0; p < limit - base; ) {
    const next = readTlv(tail, p, limit - base, 'tbsCertList');
    if (next.tag !== 0xa0 || extensionsTlv) throw new CrlFormatError(`tbsCertList: unexpected element with tag 0x${next.tag.toString(16)} at byte ${base + p}`);
    extensionsTlv = next;
    p = next.end;
  }
  const outerAlgorithmTlv = expectTlv(tail, limit - base, list.end - base, Tag.sequence, 'signatureAlgorithm');
  const signatureTlv = expectTlv(tail, outerAlgorithmTlv.end, list.end - base, Tag.bitString, 'signatureValue');
  if (signatureTlv.end !== list.end - base) throw new CrlFormatError('CertificateList: unexpected element after signatureValue');
  if (signatureTlv.end - signatureTlv.valueStart < 2 || tail[signatureTlv.valueStart] !== 0) throw new CrlFormatError('signatureValue: not a whole-byte BIT STRING');
  if (!innerAlgorithm.equals(whole(tail, outerAlgorithmTlv))) throw new CrlFormatError('the signature algorithm inside the CRL differs from the one outside it');

  const crl: ScannedCrl = {
    issuer,
    thisUpdate,
    revoked: revoked ?? new Map(),
    tbs: signedRange(source, tbsTlv.headerStart, tbsTlv.end, windowSize),
    signatureAlgorithm: algorithmIdentifier(tail, outerAlgorithmTlv),
    signature: tail.subarray(signatureTlv.valueStart + 1, signatureTlv.end),
  };
  if (nextUpdate) crl.nextUpdate = nextUpdate;
  if (extensionsTlv) readCrlExtensions(tail, extensionsTlv, crl);
  return crl;
}

function signedRange(source: ByteSource, start: number, end: number, windowSize: number): SignedBytes {
  return {
    length: end - start,
    *chunks() {
      for (let at = start; at < end; at += windowSize) yield source.window(at, Math.min(end, at + windowSize));
    },
  };
}

/** The revoked list [start, end) a window at a time; an entry cut by a window's end is read again at the start of the next window. */
function scanRevokedWindows(source: ByteSource, start: number, end: number, windowSize: number): Map<string, number> {
  const revoked = new Map<string, number>();
  for (let at = start; at < end; ) {
    const windowEnd = Math.min(end, at + windowSize);
    const window = source.window(at, windowEnd);
    const consumed = scanRevoked(revoked, window, windowEnd === end, at);
    if (consumed === 0) throw new CrlFormatError(`revokedCertificates: the entry at byte ${at} does not fit in a ${windowSize}-byte window`);
    at += consumed;
  }
  return revoked;
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
// Returns how many bytes of whole entries it consumed: unless `final`, an entry
// cut by the window's end is left for the next window. `base` is where `der`
// starts in the CRL, for the offsets in messages.
function scanRevoked(revoked: Map<string, number>, der: Buffer, final: boolean, base: number): number {
  const end = der.length;
  let at = 0;
  while (at < end) {
    if (der[at] !== Tag.sequence) throw new CrlFormatError(`revokedCertificates: entry at byte ${base + at} is not a SEQUENCE`);
    const entryEnd = final ? elementEnd(der, at, end, 'revokedCertificates entry', base) : wholeEntryEnd(der, at, base);
    if (entryEnd < 0) break;
    const entryValue = valueStartOf(der, at);
    if (der[entryValue] !== Tag.integer) throw new CrlFormatError(`revokedCertificates: entry at byte ${base + at} has no serial number`);
    const serialEnd = elementEnd(der, entryValue, entryEnd, 'userCertificate', base);
    const serialStart = valueStartOf(der, entryValue);
    if (serialStart === serialEnd) throw new CrlFormatError(`revokedCertificates: empty serial number at byte ${base + at}`);
    const dateTag = der[serialEnd];
    if (dateTag !== Tag.utcTime && dateTag !== Tag.generalizedTime) throw new CrlFormatError(`revokedCertificates: entry at byte ${base + at} has no revocationDate`);
    const dateEnd = elementEnd(der, serialEnd, entryEnd, 'revocationDate', base);
    const reason =
      dateEnd === entryEnd
        ? 0
        : entryEnd - dateEnd === onlyReason.length + 1 && der.compare(onlyReason, 0, onlyReason.length, dateEnd, entryEnd - 1) === 0
          ? der[entryEnd - 1]!
          : entryReason(der, dateEnd, entryEnd);
    revoked.set(serialKey(der, serialStart, serialEnd), reason);
    at = entryEnd;
  }
  return at;
}

/** Where the entry at `at` ends, or -1 when the window ends before it does. */
function wholeEntryEnd(der: Buffer, at: number, base: number): number {
  const end = der.length;
  if (at + 2 > end) return -1;
  const first = der[at + 1]!;
  let length = first;
  let valueStart = at + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new CrlFormatError(`revokedCertificates entry: bad length at byte ${base + at}`);
    if (at + 2 + count > end) return -1;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[at + 2 + i]!;
    valueStart += count;
  }
  if (length > maxEntryBytes) throw new CrlFormatError(`revokedCertificates: the entry at byte ${base + at} claims ${length} bytes (more than ${maxEntryBytes})`);
  return valueStart + length <= end ? valueStart + length : -1;
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

function elementEnd(der: Buffer, at: number, limit: number, what: string, base = 0): number {
  if (at + 2 > limit) throw new CrlFormatError(`${what}: truncated at byte ${base + at}`);
  const first = der[at + 1]!;
  if (first < 0x80) {
    const end = at + 2 + first;
    if (end > limit) throw new CrlFormatError(`${what}: truncated at byte ${base + at}`);
    return end;
  }
  return readTlv(der, at, limit, what).end;
}
