// crypt(3) hashes as directories store them after {CRYPT}: MD5-crypt ($1$) and
// SHA-crypt ($5$ SHA-256, $6$ SHA-512, Drepper's specification). Node has no
// crypt(); these are the formats libxcrypt and OpenLDAP write by default.
import { createHash } from 'node:crypto';

const alphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(value: number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++, value >>>= 6) out += alphabet[value & 0x3f];
  return out;
}

function encodeGroups(bytes: Buffer, groups: number[][]): string {
  return groups
    .map((g) => {
      if (g.length === 1) return to64(bytes[g[0]!]!, 2);
      if (g.length === 2) return to64((bytes[g[0]!]! << 8) | bytes[g[1]!]!, 3);
      return to64((bytes[g[0]!]! << 16) | (bytes[g[1]!]! << 8) | bytes[g[2]!]!, 4);
    })
    .join('');
}

const sha256Order = [
  [0, 10, 20],
  [21, 1, 11],
  [12, 22, 2],
  [3, 13, 23],
  [24, 4, 14],
  [15, 25, 5],
  [6, 16, 26],
  [27, 7, 17],
  [18, 28, 8],
  [9, 19, 29],
  [31, 30],
];
const sha512Order = [
  ...Array.from({ length: 21 }, (_, i) => {
    const triple = [i, i + 21, i + 42];
    const rotation = i % 3;
    return [...triple.slice(rotation), ...triple.slice(0, rotation)];
  }),
  [63],
];
const md5Order = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5], [11]];

function repeatTo(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = source[i % source.length]!;
  return out;
}

function shaCrypt(id: '5' | '6', password: Buffer, setting: string): string | undefined {
  const algorithm = id === '5' ? 'sha256' : 'sha512';
  const size = id === '5' ? 32 : 64;
  const digest = (...parts: Buffer[]) => createHash(algorithm).update(Buffer.concat(parts)).digest();
  let rest = setting;
  let rounds = 5000;
  let explicitRounds = false;
  const roundsMatch = /^rounds=(\d+)\$/.exec(rest);
  if (roundsMatch) {
    rounds = Math.min(999_999_999, Math.max(1000, Number(roundsMatch[1])));
    explicitRounds = true;
    rest = rest.slice(roundsMatch[0].length);
  }
  const saltText = rest.split('$')[0]!.slice(0, 16);
  const salt = Buffer.from(saltText, 'latin1');
  const b = digest(password, salt, password);
  const aParts = [password, salt, repeatTo(b, password.length)];
  for (let n = password.length; n > 0; n >>= 1) aParts.push(n & 1 ? b : password);
  let c = digest(...aParts);
  const p = repeatTo(digest(...Array<Buffer>(password.length).fill(password)), password.length);
  const s = repeatTo(digest(...Array<Buffer>(16 + c[0]!).fill(salt)), salt.length);
  for (let i = 0; i < rounds; i++) {
    const parts: Buffer[] = [i & 1 ? p : c];
    if (i % 3) parts.push(s);
    if (i % 7) parts.push(p);
    parts.push(i & 1 ? c : p);
    c = digest(...parts);
  }
  if (c.length !== size) return undefined;
  return `$${id}$${explicitRounds ? `rounds=${rounds}$` : ''}${saltText}$${encodeGroups(c, id === '5' ? sha256Order : sha512Order)}`;
}

function md5Crypt(password: Buffer, setting: string): string {
  const saltText = setting.split('$')[0]!.slice(0, 8);
  const salt = Buffer.from(saltText, 'latin1');
  const md5 = (...parts: Buffer[]) => createHash('md5').update(Buffer.concat(parts)).digest();
  const alternate = md5(password, salt, password);
  const parts = [password, Buffer.from('$1$'), salt];
  for (let left = password.length; left > 0; left -= 16) parts.push(alternate.subarray(0, Math.min(left, 16)));
  for (let n = password.length; n; n >>= 1) parts.push(n & 1 ? Buffer.from([0]) : password.subarray(0, 1));
  let final = md5(...parts);
  for (let i = 0; i < 1000; i++) {
    const round: Buffer[] = [i & 1 ? password : final];
    if (i % 3) round.push(salt);
    if (i % 7) round.push(password);
    round.push(i & 1 ? final : password);
    final = md5(...round);
  }
  return `$1$${saltText}$${encodeGroups(final, md5Order)}`;
}

/** The crypt(3) hash of `password` with the settings (id, rounds, salt) of `stored`; undefined for a format not supported. */
export function cryptWithSettingsOf(stored: string, password: string): string | undefined {
  const match = /^\$(1|5|6)\$(.*)$/.exec(stored);
  if (!match) return undefined;
  const bytes = Buffer.from(password, 'utf8');
  return match[1] === '1' ? md5Crypt(bytes, match[2]!) : shaCrypt(match[1] as '5' | '6', bytes, match[2]!);
}
