// Log subscriptions: each writes the lines of one log type to its own rotating
// files, in the appliance's line format:
//   Sun Nov 29 16:55:19 2026 Info: MID 12 ICID 34 From: <a@b>
import { join } from 'node:path';
import type { LogSubscription, LogType } from '../config/schema.js';
import { RotatingFile } from './rotating-file.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'critical';
const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, critical: 3 };
const levelWord: Record<LogLevel, string> = { debug: 'Debug', info: 'Info', warning: 'Warning', critical: 'Critical' };

export function formatLogLine(level: LogLevel, message: string, when = new Date()): string {
  const day = when.toLocaleString('en-US', { weekday: 'short', timeZone: 'UTC' });
  const month = when.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const time = when.toISOString().slice(11, 19);
  return `${day} ${month} ${when.getUTCDate()} ${time} ${when.getUTCFullYear()} ${levelWord[level]}: ${printable(message.replace(/[\r\n]+/g, ' '))}`;
}

/** C0, DEL and C1 (U+0080–U+009F: a terminal takes U+009B as CSI). */
const isControl = (code: number) => code < 0x20 || (code >= 0x7f && code <= 0x9f);

/** One line per event, and no bytes a terminal acts on: a certificate's CN can carry NUL or ESC. */
function printable(text: string): string {
  let at = 0;
  while (at < text.length && !isControl(text.charCodeAt(at))) at++;
  if (at === text.length) return text;
  let out = text.slice(0, at);
  for (; at < text.length; at++) {
    const code = text.charCodeAt(at);
    out += isControl(code) ? `\\x${code.toString(16).padStart(2, '0')}` : text[at];
  }
  return out;
}

export type OldestDeletedHandler = (subscription: LogSubscription, file: string) => void;

export class LogSubscriptions {
  private files = new Map<string, { subscription: LogSubscription; file: RotatingFile }>();

  constructor(
    private readonly logsDir: string,
    subscriptions: LogSubscription[],
    private readonly onOldestDeleted: OldestDeletedHandler = () => {},
  ) {
    this.reconfigure(subscriptions);
  }

  /** Applies a committed change of subscriptions; files of removed ones stay on disk. */
  reconfigure(subscriptions: LogSubscription[]): void {
    const next = new Map<string, { subscription: LogSubscription; file: RotatingFile }>();
    for (const subscription of subscriptions) {
      const existing = this.files.get(subscription.name);
      const file =
        existing?.file ??
        new RotatingFile(join(this.logsDir, subscription.name), subscription.name, subscription, (deleted) => {
          const current = this.files.get(subscription.name)?.subscription ?? subscription;
          if (current.alertOnDelete) this.onOldestDeleted(current, deleted);
        });
      file.setLimits(subscription);
      next.set(subscription.name, { subscription, file });
    }
    for (const [name, { file }] of this.files) if (!next.has(name)) file.close();
    this.files = next;
  }

  write(type: LogType, level: LogLevel, message: string): void {
    const line = formatLogLine(level, message);
    for (const { subscription, file } of this.files.values()) {
      if (subscription.type === type && levelRank[level] >= levelRank[subscription.level]) file.append(line);
    }
  }

  close(): void {
    for (const { file } of this.files.values()) file.close();
  }
}

/** Where a login came from: the client IP over the network, or the tty on the serial console (seed 73455). */
export type LoginOrigin = { clientIp: string } | { tty: string };

export function logLogin(
  logs: Pick<LogSubscriptions, 'write'>,
  login: { user: string; via: string; origin: LoginOrigin; success: boolean; reason?: string | undefined; event?: 'login' | 'logout' },
): void {
  const from = 'clientIp' in login.origin ? `from ${login.origin.clientIp}` : `on ${login.origin.tty}`;
  if (login.event === 'logout') {
    logs.write('authentication', 'info', `User ${login.user} logout ${from} via ${login.via}`);
    return;
  }
  const outcome = login.success ? 'succeeded' : `failed${login.reason ? `: ${login.reason}` : ''}`;
  logs.write('authentication', login.success ? 'info' : 'warning', `User ${login.user} login ${from} via ${login.via} ${outcome}`);
}
