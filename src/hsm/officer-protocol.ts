// What the console and the Officer's process say to each other: one request
// as JSON on stdin; progress and result lines, after their markers, on stdout
// (which also carries the process log).
import type { BackupProgress } from './backup.js';
import type { OfficerLoginResult } from './officer.js';

export type OfficerRequest =
  | { command: 'login'; password: string }
  | { command: 'initialise'; password: string }
  | { command: 'change-password'; password: string; newPassword: string }
  | { command: 'backup'; password: string; passphrase: string; file: string }
  | { command: 'restore'; password: string; passphrase: string; file: string };

export type OfficerProcessResult =
  | OfficerLoginResult
  | { ok: true }
  | { ok: true; backedUp: string[]; needsNewKey: string[] }
  | { ok: true; restored: string[]; needsNewKey: string[] }
  | { ok: false; error: string; code?: string };

export const resultMarker = 'OFFICER-RESULT ';
export const progressMarker = 'OFFICER-PROGRESS ';

export type { BackupProgress };
