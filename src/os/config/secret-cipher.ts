// The secrets of a saved configuration file (`saveconfig … secrets=encrypted`),
// encrypted under a passphrase: one scrypt key per file (its salt in the file),
// AES-256-GCM per value with a fresh IV, and the value's path as associated data,
// so a value moved to another field does not decrypt. A check value encrypted the
// same way tells a wrong passphrase from a changed file even when no secret is set.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const scryptCost = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const checkText = 'appliance configuration secrets';

export class WrongPassphraseError extends Error {}

export class SecretCipher {
  private constructor(
    private readonly key: Buffer,
    readonly salt: string,
  ) {}

  static create(passphrase: string): SecretCipher {
    const salt = randomBytes(16);
    return new SecretCipher(scryptSync(passphrase.normalize('NFC'), salt, 32, scryptCost), salt.toString('base64'));
  }

  /** The cipher of a file; throws WrongPassphraseError unless `check` decrypts. */
  static open(passphrase: string, salt: string, check: string): SecretCipher {
    const cipher = new SecretCipher(scryptSync(passphrase.normalize('NFC'), Buffer.from(salt, 'base64'), 32, scryptCost), salt);
    if (cipher.decrypt(check, 'check') !== checkText) throw new WrongPassphraseError('the passphrase is wrong');
    return cipher;
  }

  check(): string {
    return this.encrypt(checkText, 'check');
  }

  encrypt(plain: string, path: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(path));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /** Throws WrongPassphraseError if the value does not decrypt under this key at this path. */
  decrypt(sealed: string, path: string): string {
    const bytes = Buffer.from(sealed, 'base64');
    if (bytes.length < 28) throw new WrongPassphraseError(`${path}: the encrypted value is damaged`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(path));
    decipher.setAuthTag(bytes.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new WrongPassphraseError(path === 'check' ? 'the passphrase is wrong' : `${path}: the encrypted value does not decrypt (the file was changed)`);
    }
  }
}
