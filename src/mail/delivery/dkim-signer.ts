// DKIM signatures (RFC 6376, rsa-sha256) for messages leaving the queue. The
// body hash is computed while streaming the spooled file, so memory does not
// grow with the message (seed 70522); the signature itself is made in the HSM
// with the profile's key. The profile's domain is trimmed (seed 71552).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { ApplianceConfig } from '../../os/config/schema.js';
import { domainOf } from '../address.js';
import type { HeaderField } from './headers.js';
import { addressesIn } from './headers.js';

export type DkimProfile = ApplianceConfig['dkim']['profiles'][number];
export type HsmSign = (label: string, data: Buffer) => Promise<Buffer>;
type Mode = 'relaxed' | 'simple';

/** Body canonicalization fed in chunks: trailing empty lines are held back until a non-empty line shows they were not trailing. */
export class BodyHasher {
  private readonly hash: Hash = createHash('sha256');
  private partial = '';
  private emptyLines = 0;
  private wroteLine = false;

  constructor(private readonly mode: Mode) {}

  update(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  digest(): string {
    if (this.partial !== '') this.line(this.partial);
    if (!this.wroteLine && this.mode === 'simple') this.hash.update('\r\n');
    return this.hash.digest('base64');
  }

  private line(raw: string): void {
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.mode === 'relaxed') line = line.replace(/[ \t]+/g, ' ').replace(/ $/, '');
    if (line === '') {
      this.emptyLines++;
      return;
    }
    if (this.emptyLines > 0) this.hash.update('\r\n'.repeat(this.emptyLines), 'latin1');
    this.emptyLines = 0;
    this.hash.update(`${line}\r\n`, 'latin1');
    this.wroteLine = true;
  }
}

export async function hashBody(path: string, start: number, mode: Mode): Promise<string> {
  const hasher = new BodyHasher(mode);
  for await (const chunk of createReadStream(path, { start, highWaterMark: 64 * 1024 })) hasher.update(chunk as Buffer);
  return hasher.digest();
}

function canonicalHeader(field: { name: string; raw: string }, mode: Mode): string {
  if (mode === 'simple') return field.raw;
  const value = field.raw.slice(field.raw.indexOf(':') + 1);
  return `${field.name.toLowerCase().trim()}:${value
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim()}`;
}

/** The profile for the From header's domain: the same domain, or the nearest parent domain that has a profile. */
export function profileFor(fields: HeaderField[], profiles: DkimProfile[]): DkimProfile | undefined {
  const from = fields.find((f) => f.name.toLowerCase() === 'from');
  const address = from ? addressesIn(from.value)[0] : undefined;
  if (!address) return undefined;
  const domain = domainOf(address);
  return profiles
    .filter((p) => {
      const d = p.domain.trim().toLowerCase();
      return domain === d || domain.endsWith(`.${d}`);
    })
    .sort((a, b) => b.domain.trim().length - a.domain.trim().length)[0];
}

export function modesOf(profile: DkimProfile): { header: Mode; body: Mode } {
  const [header, body] = profile.canonicalization.split('/') as [Mode, Mode];
  return { header, body };
}

/** The DKIM-Signature field (no final line break) for a message with these header fields and body hash. */
export async function dkimSignature(profile: DkimProfile, fields: HeaderField[], bodyHash: string, sign: HsmSign, now = new Date()): Promise<string> {
  const modes = modesOf(profile);
  const used = new Set<HeaderField>();
  const names: string[] = [];
  const canonical: string[] = [];
  for (const wanted of profile.headers.map((h) => h.trim().toLowerCase()).filter((h) => h !== '')) {
    // Several fields of one name are signed from the bottom up (RFC 6376 5.4.2).
    const field = fields.findLast((f) => f.name.toLowerCase() === wanted && !used.has(f));
    if (!field) continue;
    used.add(field);
    names.push(wanted);
    canonical.push(canonicalHeader(field, modes.header));
  }
  if (!names.includes('from')) throw new Error('the message has no From header to sign');
  const tags = [
    'v=1',
    'a=rsa-sha256',
    `c=${modes.header}/${modes.body}`,
    `d=${profile.domain.trim().toLowerCase()}`,
    `s=${profile.selector.trim()}`,
    `t=${Math.floor(now.getTime() / 1000)}`,
    `h=${names.join(':')}`,
    `bh=${bodyHash}`,
  ];
  const unsigned = `DKIM-Signature: ${tags.slice(0, 6).join('; ')};\r\n\t${tags[6]};\r\n\t${tags[7]};\r\n\tb=`;
  const data = [...canonical, canonicalHeader({ name: 'DKIM-Signature', raw: unsigned }, modes.header)].join('\r\n');
  const signature = (await sign(profile.keyLabel, Buffer.from(data, 'latin1'))).toString('base64');
  return unsigned + (signature.match(/.{1,72}/g) ?? []).join('\r\n\t');
}
