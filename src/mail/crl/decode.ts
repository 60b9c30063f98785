// A downloaded body to DER, as the source's declared file type says. The type
// is checked, not guessed: PEM declared but DER served is refused, and so is
// the reverse, so a misconfigured source shows up at once. Messages describe
// the body, never quote it.
import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { CrlFormatError } from './der.js';

export type CrlFileType = 'asn1' | 'pem';

const begin = '-----BEGIN X509 CRL-----';
const end = '-----END X509 CRL-----';
const noBlock = () => new CrlFormatError('the PEM body has no complete "X509 CRL" block');
const notBase64 = () => new CrlFormatError('the PEM "X509 CRL" block is not base64');
const emptyBlock = () => new CrlFormatError('the PEM "X509 CRL" block is empty');

/** The declared type against the body's first bytes (up to 2048). */
function checkDeclaredType(start: Buffer, fileType: CrlFileType): void {
  if (start.length === 0) throw new CrlFormatError('the download is empty');
  const looksPem = start.subarray(0, 2048).toString('latin1').includes('-----BEGIN');
  if (fileType === 'asn1' && looksPem) throw new CrlFormatError('the source is declared ASN.1 (DER) but served PEM');
  if (fileType === 'pem' && !looksPem)
    throw new CrlFormatError(start[0] === 0x30 ? 'the source is declared PEM but served DER' : 'the source is declared PEM but the body is not PEM');
}

export function crlDer(body: Buffer, fileType: CrlFileType): Buffer {
  checkDeclaredType(body, fileType);
  if (fileType === 'asn1') return body;
  const text = body.toString('latin1');
  const from = text.indexOf(begin);
  const to = from < 0 ? -1 : text.indexOf(end, from);
  if (to < 0) throw noBlock();
  const base64 = text.slice(from + begin.length, to);
  if (/[^A-Za-z0-9+/=\s]/.test(base64)) throw notBase64();
  const der = Buffer.from(base64, 'base64');
  if (der.length === 0) throw emptyBlock();
  return der;
}

/**
 * A downloaded file to a DER file: a DER download is used where it lies (only its
 * start is read, to catch PEM); a PEM one is decoded a window at a time into
 * `<path>.der` beside it (fsynced), so neither is ever held whole.
 */
export function crlDerFile(path: string, fileType: CrlFileType, windowSize = 1 << 20): string {
  const input = openSync(path, 'r');
  try {
    const start = Buffer.alloc(2048);
    checkDeclaredType(start.subarray(0, readSync(input, start, 0, start.length, 0)), fileType);
    if (fileType === 'asn1') return path;
    const der = `${path}.der`;
    const output = openSync(der, 'wx', 0o600);
    try {
      if (decodePem(input, output, windowSize) === 0) throw emptyBlock();
      fsyncSync(output);
    } catch (error) {
      closeSync(output);
      rmSync(der, { force: true });
      throw error;
    }
    closeSync(output);
    return der;
  } finally {
    closeSync(input);
  }
}

/** The first "X509 CRL" block of `input`, base64-decoded into `output`; returns the bytes written. */
function decodePem(input: number, output: number, windowSize: number): number {
  const window = Buffer.allocUnsafe(windowSize);
  let inside = false;
  let carry = ''; // text held back: a marker may be cut by the window's end
  let pending = ''; // base64 characters not yet decoded (fewer than 4 between windows)
  let written = 0;
  for (let position = 0; ; ) {
    const read = readSync(input, window, 0, windowSize, position);
    position += read;
    const last = read === 0;
    let text = carry + window.toString('latin1', 0, read);
    carry = '';
    if (!inside) {
      const at = text.indexOf(begin);
      if (at < 0) {
        if (last) throw noBlock();
        carry = text.slice(-(begin.length - 1));
        continue;
      }
      text = text.slice(at + begin.length);
      inside = true;
    }
    // Base64 has no "-": the first one starts the end marker, or the block is not base64.
    const dash = text.indexOf('-');
    let done = false;
    if (dash >= 0) {
      const rest = text.slice(dash);
      if (rest.startsWith(end)) done = true;
      else if (rest.length >= end.length) throw notBase64();
      else if (last) throw noBlock();
      else carry = rest;
      text = text.slice(0, dash);
    } else if (last) {
      throw noBlock();
    }
    if (/[^A-Za-z0-9+/=\s]/.test(text)) throw notBase64();
    pending += text.replace(/\s+/g, '');
    const ready = done ? pending.length : pending.length - (pending.length % 4);
    if (ready > 0) {
      const bytes = Buffer.from(pending.slice(0, ready), 'base64');
      for (let at = 0; at < bytes.length; ) at += writeSync(output, bytes, at);
      written += bytes.length;
      pending = pending.slice(ready);
    }
    if (done) return written;
  }
}
