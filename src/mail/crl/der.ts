// A minimal DER reader: one tag-length-value at a time, over a Buffer, with no
// tree. Every bound is checked, so malformed input becomes a CrlFormatError,
// never an out-of-range read.

export class CrlFormatError extends Error {
  override name = 'CrlFormatError';
}

export const Tag = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  boolean: 0x01,
} as const;

/** One element: its tag, where its value starts and ends, and where the whole element ends. */
export interface Tlv {
  tag: number;
  headerStart: number;
  valueStart: number;
  end: number;
}

/** Reads the element at `offset`, which must end at or before `limit`. */
export function readTlv(der: Buffer, offset: number, limit: number, what: string): Tlv {
  if (offset + 2 > limit) throw new CrlFormatError(`${what}: truncated (expected an element at byte ${offset})`);
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new CrlFormatError(`${what}: multi-byte tags are not used in CRLs (byte ${offset})`);
  const first = der[offset + 1]!;
  let length: number;
  let valueStart: number;
  if (first < 0x80) {
    length = first;
    valueStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new CrlFormatError(`${what}: indefinite length is not DER (byte ${offset})`);
    if (count > 4) throw new CrlFormatError(`${what}: length of ${count} bytes is too large (byte ${offset})`);
    if (offset + 2 + count > limit) throw new CrlFormatError(`${what}: truncated length (byte ${offset})`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
    valueStart = offset + 2 + count;
  }
  const end = valueStart + length;
  if (end > limit) throw new CrlFormatError(`${what}: truncated (needs ${end - limit} more bytes at byte ${offset})`);
  return { tag, headerStart: offset, valueStart, end };
}

export function expectTlv(der: Buffer, offset: number, limit: number, tag: number, what: string): Tlv {
  if (offset < limit && der[offset] !== tag) throw new CrlFormatError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${der[offset]!.toString(16)} at byte ${offset}`);
  return readTlv(der, offset, limit, what);
}

/** The elements inside a constructed element, in order. */
export function children(der: Buffer, parent: Tlv, what: string): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.valueStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end, what);
    out.push(child);
    at = child.end;
  }
  return out;
}

export function value(der: Buffer, tlv: Tlv): Buffer {
  return der.subarray(tlv.valueStart, tlv.end);
}

export function whole(der: Buffer, tlv: Tlv): Buffer {
  return der.subarray(tlv.headerStart, tlv.end);
}

export function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new CrlFormatError('empty OBJECT IDENTIFIER');
  const parts: number[] = [];
  let current = 0;
  for (const byte of bytes) {
    current = current * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(current);
      current = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/** An INTEGER's value as a non-negative bigint (CRL numbers, delta indicators). */
export function decodeUnsigned(bytes: Buffer, what: string): bigint {
  if (bytes.length === 0) throw new CrlFormatError(`${what}: empty INTEGER`);
  if (bytes[0]! & 0x80) throw new CrlFormatError(`${what}: negative INTEGER`);
  return BigInt(`0x${bytes.toString('hex')}`);
}

/** A certificate serial as the lookup key: its magnitude bytes, leading zeros dropped, as a latin1 string (one byte per character, half the size of hex). */
export function serialKey(der: Buffer, start: number, end: number): string {
  while (start < end - 1 && der[start] === 0) start++;
  return der.toString('latin1', start, end);
}

export function serialKeyFromHex(hex: string): string {
  const clean = hex.replace(/[^0-9a-fA-F]/g, '');
  const bytes = Buffer.from(clean.length % 2 ? `0${clean}` : clean, 'hex');
  return serialKey(bytes, 0, bytes.length);
}

export function serialKeyToHex(key: string): string {
  return Buffer.from(key, 'latin1').toString('hex').toUpperCase();
}

export function decodeTime(der: Buffer, tlv: Tlv, what: string): Date {
  const text = der.toString('latin1', tlv.valueStart, tlv.end);
  let match: RegExpMatchArray | null;
  let year: number;
  if (tlv.tag === Tag.utcTime) {
    match = text.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/);
    if (!match) throw new CrlFormatError(`${what}: not a valid UTCTime (${text.length} bytes)`);
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tag === Tag.generalizedTime) {
    match = text.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/);
    if (!match) throw new CrlFormatError(`${what}: not a valid GeneralizedTime (${text.length} bytes)`);
    year = Number(match[1]);
  } else {
    throw new CrlFormatError(`${what}: expected a time, found tag 0x${tlv.tag.toString(16)}`);
  }
  const [month, day, hour, minute, second] = match.slice(2, 7).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw new CrlFormatError(`${what}: not a valid date`);
  return date;
}
