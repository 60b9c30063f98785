// DKIM signing keys per domain and selector, made in the HSM, and DKIM-Signature
// headers (RSA-SHA256, relaxed/relaxed, RFC 6376) whose signature the HSM makes.
import { createHash } from 'node:crypto';
import type { HsmKeys, KeyInfo } from './keys.js';
import { HsmError } from './module.js';

export interface DkimSelector {
  domain: string;
  selector: string;
}

export const defaultSignedHeaders = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'in-reply-to',
  'references',
];

const domainPattern = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const selectorPattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function dkimLabel({ domain, selector }: DkimSelector): string {
  if (!domainPattern.test(domain)) throw new HsmError('bad-input', `"${domain}" is not a domain name`);
  if (!selectorPattern.test(selector)) throw new HsmError('bad-input', `"${selector}" is not a DKIM selector`);
  return `dkim.${selector}.${domain.toLowerCase()}`;
}

/** An RSA key for the domain and selector; backup-able unless told otherwise, since DNS publishes its public half. */
export function generateDkimKey(keys: HsmKeys, selector: DkimSelector, options: { bits?: 2048 | 3072 | 4096; backup?: boolean } = {}): Promise<KeyInfo> {
  return keys.generate({ label: dkimLabel(selector), algorithm: `rsa-${options.bits ?? 2048}`, backup: options.backup ?? true });
}

export interface DkimTxtRecord {
  name: string;
  value: string;
  /** The record as a zone-file line, the value split into 255-character strings. */
  zoneLine: string;
}

export async function dkimTxtRecord(keys: HsmKeys, selector: DkimSelector): Promise<DkimTxtRecord> {
  const spki = (await keys.publicKey(dkimLabel(selector))).export({ type: 'spki', format: 'der' });
  const name = `${selector.selector}._domainkey.${selector.domain.toLowerCase()}`;
  const value = `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
  const chunks = value.match(/.{1,255}/g) ?? [];
  return { name, value, zoneLine: `${name}. IN TXT ( ${chunks.map((c) => `"${c}"`).join(' ')} )` };
}

function splitMessage(message: Buffer): { head: string; body: string } {
  // latin1 keeps every byte as one character, so the hashes see the original bytes.
  const text = message.toString('latin1').replace(/\r?\n/g, '\r\n');
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? { head: text, body: '' } : { head: text.slice(0, end + 2), body: text.slice(end + 4) };
}

export function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((line) => line.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`;
}

function relaxedHeader(name: string, value: string): string {
  return `${name.toLowerCase().trim()}:${value
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim()}`;
}

function headerFields(head: string): { name: string; value: string }[] {
  const fields: { name: string; value: string }[] = [];
  for (const line of head.split('\r\n')) {
    if (line === '') continue;
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line) && last) last.value += `\r\n${line}`;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1) });
    }
  }
  return fields;
}

/** The DKIM-Signature header line (without the final CRLF) to put on top of the message. */
export async function dkimSign(keys: HsmKeys, selector: DkimSelector, message: Buffer, signedHeaders = defaultSignedHeaders): Promise<string> {
  const label = dkimLabel(selector);
  if (!(await keys.show(label)).algorithm.startsWith('rsa-')) throw new HsmError('bad-input', `DKIM key ${label} is not an RSA key`);
  const { head, body } = splitMessage(message);
  const bodyHash = createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');
  const fields = headerFields(head);
  const used = new Set<(typeof fields)[number]>();
  const names: string[] = [];
  const canonical: string[] = [];
  for (const wanted of signedHeaders.map((h) => h.toLowerCase())) {
    // The last instance of a field is signed first (RFC 6376 5.4.2).
    const field = fields.findLast((f) => f.name.trim().toLowerCase() === wanted && !used.has(f));
    if (!field) continue;
    used.add(field);
    names.push(wanted);
    canonical.push(relaxedHeader(field.name, field.value));
  }
  if (!names.includes('from')) throw new HsmError('bad-input', 'a DKIM signature must cover the From header, and the message has none');
  const tags = ['v=1', 'a=rsa-sha256', 'c=relaxed/relaxed', `d=${selector.domain.toLowerCase()}`, 'q=dns/txt', `s=${selector.selector}`, `bh=${bodyHash}`, `h=${names.join(':')}`];
  const unsigned = `DKIM-Signature: ${tags.join('; ')};\r\n b=`;
  const data = `${canonical.join('\r\n')}\r\n${relaxedHeader('dkim-signature', unsigned.slice('DKIM-Signature:'.length))}`;
  const signature = (await keys.sign(label, Buffer.from(data, 'latin1'))).toString('base64');
  return `${unsigned}${signature.replace(/.{1,72}/g, (chunk, offset: number) => (offset === 0 ? chunk : `\r\n ${chunk}`))}`;
}
