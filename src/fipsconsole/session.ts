// Who is at the console and where from: decided once at start, written on
// every commit and every audit line.
import type { CommitSource } from '../os/config/schema.js';
import type { CommitAuthor } from '../os/config/store.js';
import type { LoginOrigin } from '../os/logging/subscriptions.js';

export interface ConsoleIdentity extends CommitAuthor {
  origin: LoginOrigin;
}

export function identifyConsoleUser(env: NodeJS.ProcessEnv = process.env, tty = ttyName()): ConsoleIdentity {
  const user = env.APPLIANCE_USER ?? env.USER ?? env.LOGNAME ?? 'admin';
  const sshClient = env.SSH_CONNECTION?.split(' ')[0];
  if (sshClient) return { user, source: 'ssh', from: sshClient, origin: { clientIp: sshClient } };
  const source: CommitSource = /ttyS|ttyAMA|ttyUSB|console/.test(tty) ? 'serial' : 'local';
  return { user, source, from: tty, origin: { tty } };
}

function ttyName(): string {
  return process.stdin.isTTY ? (process.env.TTY ?? 'tty') : 'stdin';
}
