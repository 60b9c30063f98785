// Checks a password against the value of a directory's password attribute
// (the "password as attribute" method): RFC 2307 style {SCHEME}value.
import { createHash, timingSafeEqual } from 'node:crypto';
import { cryptWithSettingsOf } from './crypt.js';

export type PasswordCheck = 'match' | 'mismatch' | { unsupported: string };

const digests: Record<string, { algorithm: string; size: number; salted: boolean }> = {
  SHA: { algorithm: 'sha1', size: 20, salted: false },
  SSHA: { algorithm: 'sha1', size: 20, salted: true },
  SHA256: { algorithm: 'sha256', size: 32, salted: false },
  SSHA256: { algorithm: 'sha256', size: 32, salted: true },
  SHA512: { algorithm: 'sha512', size: 64, salted: false },
  SSHA512: { algorithm: 'sha512', size: 64, salted: true },
};

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkStoredPassword(stored: string, password: string): PasswordCheck {
  const scheme = /^\{([A-Za-z0-9.-]+)\}(.*)$/s.exec(stored);
  if (!scheme) return same(Buffer.from(stored, 'utf8'), Buffer.from(password, 'utf8')) ? 'match' : 'mismatch';
  const name = scheme[1]!.toUpperCase();
  const value = scheme[2]!;
  if (name === 'CRYPT') {
    const computed = cryptWithSettingsOf(value, password);
    if (computed === undefined) return { unsupported: `{CRYPT} ${value.startsWith('$') ? value.split('$')[1] : 'DES'} format` };
    return same(Buffer.from(computed), Buffer.from(value)) ? 'match' : 'mismatch';
  }
  const digest = digests[name];
  if (!digest) return { unsupported: `{${name}}` };
  const decoded = Buffer.from(value, 'base64');
  if (decoded.length < digest.size || (!digest.salted && decoded.length !== digest.size)) return 'mismatch';
  const hash = decoded.subarray(0, digest.size);
  const salt = decoded.subarray(digest.size);
  const computed = createHash(digest.algorithm)
    .update(Buffer.concat([Buffer.from(password, 'utf8'), salt]))
    .digest();
  return same(computed, hash) ? 'match' : 'mismatch';
}
