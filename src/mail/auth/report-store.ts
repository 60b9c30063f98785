// The Inbound SMTP Authentication report: counts per minute and per sender
// (user, domain, client IP), kept in SQLite (node:sqlite) so they survive
// restarts. Queries sum the minutes of a time range; rows older than the
// longest range are pruned.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

export const reportCounters = [
  'certificate_ok',
  'certificate_failed',
  'auth_ok',
  /** AUTH logins the allowance query did not permit, let through only because the profile is in monitor mode: not counted in auth_ok. */
  'auth_allowed_monitor',
  'auth_failed',
  'auth_fallback',
  'messages_authenticated',
  'messages_unauthenticated',
] as const;
export type ReportCounter = (typeof reportCounters)[number];

/** How the console names each counter. */
export const reportCounterLabels: Record<ReportCounter, string> = {
  certificate_ok: 'certificate ok',
  certificate_failed: 'certificate failed',
  auth_ok: 'auth ok',
  auth_allowed_monitor: 'auth allowed, not permitted by the allowance query (monitor mode)',
  auth_failed: 'auth failed',
  auth_fallback: 'auth fallback',
  messages_authenticated: 'messages authenticated',
  messages_unauthenticated: 'messages unauthenticated',
};

export const reportRanges = { hour: 60, day: 24 * 60, week: 7 * 24 * 60, '30days': 30 * 24 * 60 } as const;
export type ReportRange = keyof typeof reportRanges;
export type ReportGrouping = 'user' | 'domain' | 'ip';

export interface ReportSender {
  /** The authenticated user, else the name tried (AUTH user, certificate CN), else the envelope sender. */
  user: string;
  domain: string;
  ip: string;
}

export type ReportRow = { key: string } & Record<ReportCounter, number>;

const retentionMinutes = reportRanges['30days'] + 60;

/** Where the gateway keeps the report, so the console opens the same file. */
export function authReportPath(stateRoot: string): string {
  return join(stateRoot, 'reports', 'smtp-auth.sqlite');
}

export class AuthReportStore {
  private readonly db: DatabaseSync;
  private readonly bump: Record<ReportCounter, StatementSync>;
  private lastPrune = 0;

  constructor(
    path: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (path !== ':memory:') {
      // Who authenticated from where is not for other accounts: the folder 0700, the file 0600
      // (SQLite gives its -wal and -shm files the database's mode).
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(path, 'a', 0o600));
    }
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS smtp_auth_counts (
        minute INTEGER NOT NULL,
        user TEXT NOT NULL,
        domain TEXT NOT NULL,
        ip TEXT NOT NULL,
        ${reportCounters.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(',\n        ')},
        PRIMARY KEY (minute, user, domain, ip)
      ) WITHOUT ROWID;
    `);
    // A report written by an earlier version lacks the counters added since: they start at 0.
    const columns = new Set(
      this.db
        .prepare('PRAGMA table_info(smtp_auth_counts)')
        .all()
        .map((c) => String(c.name)),
    );
    for (const c of reportCounters) if (!columns.has(c)) this.db.exec(`ALTER TABLE smtp_auth_counts ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 0`);
    this.bump = Object.fromEntries(
      reportCounters.map((c) => [
        c,
        this.db.prepare(`INSERT INTO smtp_auth_counts (minute, user, domain, ip, ${c}) VALUES (?, ?, ?, ?, 1)
           ON CONFLICT (minute, user, domain, ip) DO UPDATE SET ${c} = ${c} + 1`),
      ]),
    ) as Record<ReportCounter, StatementSync>;
  }

  private minute(date = this.now()): number {
    return Math.floor(date.getTime() / 60_000);
  }

  record(counter: ReportCounter, sender: ReportSender): void {
    const minute = this.minute();
    this.bump[counter].run(minute, sender.user.toLowerCase(), sender.domain.toLowerCase(), sender.ip);
    if (minute - this.lastPrune >= 60) {
      this.db.prepare('DELETE FROM smtp_auth_counts WHERE minute < ?').run(minute - retentionMinutes);
      this.lastPrune = minute;
    }
  }

  /** Totals over the range (the last hour, day, week or 30 days). */
  totals(range: ReportRange): Record<ReportCounter, number> {
    const row = this.db
      .prepare(`SELECT ${reportCounters.map((c) => `COALESCE(SUM(${c}), 0) AS ${c}`).join(', ')} FROM smtp_auth_counts WHERE minute > ? AND minute <= ?`)
      .get(this.minute() - reportRanges[range], this.minute());
    return Object.fromEntries(reportCounters.map((c) => [c, Number((row as Record<string, unknown>)[c])])) as Record<ReportCounter, number>;
  }

  /** One row per user, domain or IP over the range, busiest first. */
  bySender(range: ReportRange, grouping: ReportGrouping, limit = 1000): ReportRow[] {
    const column = { user: 'user', domain: 'domain', ip: 'ip' }[grouping];
    const rows = this.db
      .prepare(
        `SELECT ${column} AS key, ${reportCounters.map((c) => `SUM(${c}) AS ${c}`).join(', ')} FROM smtp_auth_counts
         WHERE minute > ? AND minute <= ? GROUP BY ${column} ORDER BY SUM(${reportCounters.join(' + ')}) DESC, key LIMIT ?`,
      )
      .all(this.minute() - reportRanges[range], this.minute(), limit);
    return rows.map((r) => Object.fromEntries(['key', ...reportCounters].map((k) => [k, k === 'key' ? String(r[k]) : Number(r[k])])) as ReportRow);
  }

  /** The `bySender` table as CSV (RFC 4180), with a header line. */
  csv(range: ReportRange, grouping: ReportGrouping): string {
    // A leading = + - @ would make a spreadsheet formula of a user name: prefix it with '.
    const text = (v: string) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
    const quote = (v: string | number) => (typeof v === 'number' ? String(v) : /[",\r\n]/.test(v) ? `"${text(v).replace(/"/g, '""')}"` : text(v));
    const lines = [[grouping, ...reportCounters].join(',')];
    for (const row of this.bySender(range, grouping, Number.MAX_SAFE_INTEGER)) lines.push([row.key, ...reportCounters.map((c) => row[c])].map(quote).join(','));
    return `${lines.join('\r\n')}\r\n`;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
