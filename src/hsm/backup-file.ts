// The FIPS backup file: XML, certificates in clear, private keys wrapped, and
// an HMAC over every byte before the <hmac> element, which ends the file.
import { XMLParser } from 'fast-xml-parser';
import { isKeyAlgorithm, type KeyAlgorithm } from './algorithms.js';
import { type BackupKeys, deriveBackupKeys, mac, macMatches, minimumIterations } from './backup-crypto.js';
import { HsmError } from './module.js';

export interface BackedUpKey {
  label: string;
  id: string;
  algorithm: KeyAlgorithm;
  /** SubjectPublicKeyInfo, DER. */
  publicKey: Buffer;
  /** CKM_AES_KEY_WRAP_PAD output; absent for keys that cannot be backed up. */
  wrappedPrivateKey?: Buffer;
  /** Leaf first, then chain; PEM. */
  certificates: string;
}

export interface BackupContent {
  created: string;
  tokenLabel: string;
  salt: Buffer;
  iterations: number;
  keys: BackedUpKey[];
}

const hmacOpen = '  <hmac algorithm="HMAC-SHA256">';
const hmacClose = '</hmac>\n</hsmBackup>\n';

function attribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderBackup(content: BackupContent, keys: BackupKeys): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<hsmBackup version="1" created="${attribute(content.created)}" token="${attribute(content.tokenLabel)}">`,
    `  <kdf algorithm="PBKDF2-HMAC-SHA256" iterations="${content.iterations}" salt="${content.salt.toString('base64')}"/>`,
    '  <wrap mechanism="CKM_AES_KEY_WRAP_PAD"/>',
  ];
  for (const key of content.keys) {
    lines.push(`  <key label="${attribute(key.label)}" id="${key.id}" algorithm="${key.algorithm}" backup="${key.wrappedPrivateKey ? 'true' : 'false'}">`);
    lines.push(`    <publicKey>${key.publicKey.toString('base64')}</publicKey>`);
    if (key.wrappedPrivateKey) lines.push(`    <wrappedPrivateKey>${key.wrappedPrivateKey.toString('base64')}</wrappedPrivateKey>`);
    else lines.push('    <needsNewKey>the key was not made for backup: make a new key and certificate after restore</needsNewKey>');
    if (key.certificates) lines.push(`    <certificates>\n${key.certificates.trimEnd()}\n    </certificates>`);
    lines.push('  </key>');
  }
  const body = `${lines.join('\n')}\n`;
  return `${body}${hmacOpen}${mac(keys.macKey, body)}${hmacClose}`;
}

/**
 * Checks the HMAC before anything else is believed, then parses. A wrong
 * passphrase and an altered file give the same error: they cannot be told apart.
 */
export async function readBackup(text: string, passphrase: string): Promise<{ content: BackupContent; keys: BackupKeys }> {
  const at = text.lastIndexOf(hmacOpen);
  const kdf = /^ {2}<kdf algorithm="PBKDF2-HMAC-SHA256" iterations="(\d+)" salt="([A-Za-z0-9+/=]+)"\/>$/m.exec(text);
  if (at < 0 || !kdf || !text.endsWith(hmacClose)) throw new HsmError('bad-input', 'not an HSM backup file');
  const iterations = Number(kdf[1]);
  if (iterations < minimumIterations) throw new HsmError('bad-input', `the backup file asks for ${iterations} PBKDF2 iterations, fewer than ${minimumIterations}`);
  const salt = Buffer.from(kdf[2]!, 'base64');
  const keys = await deriveBackupKeys(passphrase, salt, iterations);
  const body = text.slice(0, at);
  if (!macMatches(keys.macKey, body, text.slice(at + hmacOpen.length, text.length - hmacClose.length))) {
    throw new HsmError('bad-input', 'the backup file was altered or the passphrase is wrong: nothing was restored');
  }
  const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', isArray: (name) => name === 'key', parseTagValue: false, trimValues: true }).parse(
    `${body}</hsmBackup>`,
  ) as { hsmBackup: { '@_created': string; '@_token': string; key?: Record<string, string>[] } };
  const backup = parsed.hsmBackup;
  return {
    keys,
    content: {
      created: backup['@_created'],
      tokenLabel: backup['@_token'],
      salt,
      iterations,
      keys: (backup.key ?? []).map((key) => {
        const algorithm = key['@_algorithm'] ?? '';
        if (!isKeyAlgorithm(algorithm)) throw new HsmError('bad-input', `backup key ${key['@_label']} has unknown algorithm ${algorithm}`);
        return {
          label: key['@_label'] ?? '',
          id: key['@_id'] ?? '',
          algorithm,
          publicKey: Buffer.from(key.publicKey ?? '', 'base64'),
          ...(key.wrappedPrivateKey ? { wrappedPrivateKey: Buffer.from(key.wrappedPrivateKey, 'base64') } : {}),
          certificates: key.certificates ?? '',
        };
      }),
    },
  };
}
