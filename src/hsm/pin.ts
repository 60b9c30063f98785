// The crypto-user PIN: random, made at FIPS initialisation, kept in a file only
// root can read. Under systemd it reaches services through LoadCredential=.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../os/atomic-file.js';

export const pinCredentialName = 'hsm-user-pin';

export function generateUserPin(): string {
  // 24 bytes of randomness as 32 base64url characters: well inside SoftHSM2's 255-character limit.
  return randomBytes(24).toString('base64url');
}

export function storeUserPin(path: string, pin: string): void {
  writeFileDurably(path, pin, 0o600);
}

/** The PIN file a service reads: its systemd credential when it has one, else the state folder's. */
export function userPinFile(statePinPath: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, pinCredentialName) : statePinPath;
}

export function readUserPin(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
