// A downloaded body to DER, as the source's declared file type says. The type
// is checked, not guessed: PEM declared but DER served is refused, and so is
// the reverse, so a misconfigured source shows up at once.
import { closeSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { CrlFormatError } from './der.js';

export type CrlFileType = 'asn1' | 'pem';

const begin = '-----BEGIN X509 CRL-----';
const end = '-----END X509 CRL-----';

export function crlDer(body: Buffer, fileType: CrlFileType): Buffer {
  if (body.length === 0) throw new CrlFormatError('the download is empty');
  const looksPem = body.subarray(0, 2048).toString('latin1').includes('-----BEGIN');
  if (fileType === 'asn1') {
    if (looksPem) throw new CrlFormatError('the source is declared ASN.1 (DER) but served PEM');
    return body;
  }
  if (!looksPem) throw new CrlFormatError(body[0] === 0x30 ? 'the source is declared PEM but served DER' : 'the source is declared PEM but the body is not PEM');
  const text = body.toString('latin1');
  const from = text.indexOf(begin);
  const to = from < 0 ? -1 : text.indexOf(end, from);
  if (to < 0) throw new CrlFormatError('the PEM body has no complete "X509 CRL" block');
  const base64 = text.slice(from + begin.length, to);
  if (/[^A-Za-z0-9+/=\s]/.test(base64)) throw new CrlFormatError('the PEM "X509 CRL" block is not base64');
  const der = Buffer.from(base64, 'base64');
  if (der.length === 0) throw new CrlFormatError('the PEM "X509 CRL" block is empty');
  return der;
}

/**
 * A downloaded file to a DER file, as the declared type says: a DER download is used
 * where it lies (only its start is read, to catch PEM); a PEM one is decoded into
 * `<path>.der` beside it. PEM sources are read whole (they are the small ones: the
 * big CRLs, DoD's, are published in DER).
 */
export function crlDerFile(path: string, fileType: CrlFileType): string {
  if (fileType === 'asn1') {
    const fd = openSync(path, 'r');
    let start: Buffer;
    try {
      const buffer = Buffer.alloc(2048);
      start = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
    } finally {
      closeSync(fd);
    }
    crlDer(start, 'asn1');
    return path;
  }
  const der = `${path}.der`;
  const bytes = crlDer(readFileSync(path), 'pem');
  const fd = openSync(der, 'wx', 0o600);
  try {
    for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return der;
}
