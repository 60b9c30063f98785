// Reading message headers the way they arrive, not the way RFC 5322 wishes:
// fields folded over several lines (seed 72656), RFC 2047 encoded words, and
// encoded words that break the rules, such as an address inside one or a
// charset Node does not know (seed 51946). Nothing here throws on bad input.
import addressparser from 'nodemailer/lib/addressparser';

export interface HeaderField {
  /** The name as written. */
  name: string;
  /** The whole field as it stands in the message, folding kept, without the final line break. */
  raw: string;
  /** The value unfolded (line breaks removed), not decoded. */
  value: string;
}

/** Splits a header block (latin1 text, CRLF or LF line ends) into fields; a continuation line belongs to the field before it. */
export function parseHeaderBlock(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    const last = fields[fields.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last.raw += `\r\n${line}`;
      last.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a field: ignored, as every MTA does
    fields.push({ name: line.slice(0, colon).trim(), raw: line, value: line.slice(colon + 1) });
  }
  return fields;
}

const encodedWord = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

function decodeBytes(charset: string, bytes: Buffer): string {
  const name = charset.replace(/\*.*$/, '').toLowerCase(); // RFC 2231 language suffix
  try {
    return new TextDecoder(name).decode(bytes);
  } catch {
    return bytes.toString('latin1'); // an unknown charset: keep the bytes readable rather than fail
  }
}

/** Decodes RFC 2047 encoded words; whitespace between two adjacent encoded words is dropped, as the RFC says. */
export function decodeEncodedWords(value: string): string {
  const joined = value.replace(/(\?=)\s+(?==\?)/g, '$1');
  return joined.replace(encodedWord, (whole, charset: string, encoding: string, text: string) => {
    try {
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
              'latin1',
            );
      return decodeBytes(charset, bytes);
    } catch {
      return whole;
    }
  });
}

/** Header bytes as text: UTF-8 when they are valid UTF-8 (RFC 6532), else latin1. */
export function headerText(raw: string): string {
  const bytes = Buffer.from(raw, 'latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return raw;
  }
}

/** The decoded, unfolded value of the first (topmost) field of that name. */
export function headerValue(fields: HeaderField[], name: string): string | undefined {
  const field = fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
  return field === undefined ? undefined : decodeEncodedWords(headerText(field.value)).trim();
}

/** The addresses in an address field, also when the address itself was encoded (seed 51946). */
export function addressesIn(value: string): string[] {
  return addressparser(decodeEncodedWords(headerText(value)), { flatten: true })
    .map((a) => a.address.trim())
    .filter((a) => a.includes('@'));
}
