// Keys of a FIPS backup file, derived from its passphrase: an AES-256 key that
// wraps the private keys (CKM_AES_KEY_WRAP_PAD) and an HMAC-SHA256 key over the file.
import { createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export const minimumIterations = 600_000;

export interface BackupKeys {
  wrappingKey: Buffer;
  macKey: Buffer;
}

export async function deriveBackupKeys(passphrase: string, salt: Buffer, iterations: number): Promise<BackupKeys> {
  if (iterations < minimumIterations) throw new Error(`a backup key needs at least ${minimumIterations} PBKDF2 iterations`);
  const bytes = await promisify(pbkdf2)(passphrase, salt, iterations, 64, 'sha256');
  return { wrappingKey: bytes.subarray(0, 32), macKey: bytes.subarray(32) };
}

export function mac(macKey: Buffer, text: string): string {
  return createHmac('sha256', macKey).update(text, 'utf8').digest('hex');
}

export function macMatches(macKey: Buffer, text: string, expectedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  const actual = Buffer.from(mac(macKey, text), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
