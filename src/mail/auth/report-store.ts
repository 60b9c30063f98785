// The Inbound SMTP Authentication report: counts per minute and per sender
// (user, domain, client IP), kept in SQLite (node:sqlite) so they survive
// restarts. Two rollups keep the 30-day report fast over millions of events:
// per-minute totals (no sender: the totals and the charts) and per-day counts
// per user, per domain and per IP, each on its own (the tables by user, domain
// or IP; the partial days at a range's edges come from the per-minute rows, so
// a range is exact). Rows older than the longest range
// are pruned.
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
export const groupings = ['user', 'domain', 'ip'] as const;
export type ReportGrouping = (typeof groupings)[number];

export interface ReportSender {
  /** The authenticated user, else the name tried (AUTH user, certificate CN), else the envelope sender. */
  user: string;
  domain: string;
  ip: string;
}

export type ReportRow = { key: string } & Record<ReportCounter, number>;

/** A range's chart: `times` are bucket starts (ms since the epoch), one value per bucket in each counter's list. */
export interface ReportSeries {
  bucketMinutes: number;
  times: number[];
  counters: Record<ReportCounter, number[]>;
}

/** Chart buckets: 60 points for the hour, 96 for the day, 168 for the week, 180 for 30 days. */
export const seriesBucketMinutes: Record<ReportRange, number> = { hour: 1, day: 15, week: 60, '30days': 240 };

const retentionMinutes = reportRanges['30days'] + 60;
const minutesPerDay = 24 * 60;

interface Bump {
  perSender: StatementSync;
  perMinute: StatementSync;
  perDay: StatementSync;
}

/** Where the gateway keeps the report, so the console opens the same file. */
export function authReportPath(stateRoot: string): string {
  return join(stateRoot, 'reports', 'smtp-auth.sqlite');
}

export class AuthReportStore {
  private readonly db: DatabaseSync;
  private readonly bump: Record<ReportCounter, Bump>;
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
      CREATE TABLE IF NOT EXISTS smtp_auth_minutes (
        minute INTEGER PRIMARY KEY,
        ${reportCounters.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(',\n        ')}
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS smtp_auth_days (
        grouping TEXT NOT NULL,
        day INTEGER NOT NULL,
        key TEXT NOT NULL,
        ${reportCounters.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(',\n        ')},
        PRIMARY KEY (grouping, day, key)
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
    this.backfillRollups();
    this.bump = Object.fromEntries(
      reportCounters.map((c) => {
        const perSender = this.db.prepare(`INSERT INTO smtp_auth_counts (minute, user, domain, ip, ${c}) VALUES (?, ?, ?, ?, 1)
           ON CONFLICT (minute, user, domain, ip) DO UPDATE SET ${c} = ${c} + 1`);
        const perMinute = this.db.prepare(`INSERT INTO smtp_auth_minutes (minute, ${c}) VALUES (?, 1) ON CONFLICT (minute) DO UPDATE SET ${c} = ${c} + 1`);
        const perDay = this.db.prepare(`INSERT INTO smtp_auth_days (grouping, day, key, ${c}) VALUES (?, ?, ?, 1), (?, ?, ?, 1), (?, ?, ?, 1)
           ON CONFLICT (grouping, day, key) DO UPDATE SET ${c} = ${c} + 1`);
        return [c, { perSender, perMinute, perDay }];
      }),
    ) as Record<ReportCounter, Bump>;
  }

  /** A report written before the rollups existed gets them from its per-minute rows, once. */
  private backfillRollups(): void {
    const empty = (table: string) => this.db.prepare(`SELECT 1 FROM ${table} LIMIT 1`).get() === undefined;
    if (empty('smtp_auth_counts') || !empty('smtp_auth_minutes')) return;
    const sums = reportCounters.map((c) => `SUM(${c})`).join(', ');
    this.db.exec(`BEGIN;
      INSERT INTO smtp_auth_minutes (minute, ${reportCounters.join(', ')}) SELECT minute, ${sums} FROM smtp_auth_counts GROUP BY minute;
      ${groupings
        .map(
          (g) => `INSERT INTO smtp_auth_days (grouping, day, key, ${reportCounters.join(', ')})
        SELECT '${g}', minute / ${minutesPerDay}, ${g}, ${sums} FROM smtp_auth_counts GROUP BY minute / ${minutesPerDay}, ${g};`,
        )
        .join('\n')}
      COMMIT;`);
  }

  private minute(date = this.now()): number {
    return Math.floor(date.getTime() / 60_000);
  }

  record(counter: ReportCounter, sender: ReportSender): void {
    const minute = this.minute();
    const [user, domain] = [sender.user.toLowerCase(), sender.domain.toLowerCase()];
    const bump = this.bump[counter];
    this.db.exec('BEGIN');
    try {
      bump.perSender.run(minute, user, domain, sender.ip);
      bump.perMinute.run(minute);
      const day = Math.floor(minute / minutesPerDay);
      bump.perDay.run('user', day, user, 'domain', day, domain, 'ip', day, sender.ip);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    if (minute - this.lastPrune >= 60) {
      const oldest = minute - retentionMinutes;
      this.db.prepare('DELETE FROM smtp_auth_counts WHERE minute < ?').run(oldest);
      this.db.prepare('DELETE FROM smtp_auth_minutes WHERE minute < ?').run(oldest);
      this.db.prepare('DELETE FROM smtp_auth_days WHERE day < ?').run(Math.floor(oldest / minutesPerDay));
      this.lastPrune = minute;
    }
  }

  /** Totals over the range (the last hour, day, week or 30 days). */
  totals(range: ReportRange): Record<ReportCounter, number> {
    const row = this.db
      .prepare(`SELECT ${reportCounters.map((c) => `COALESCE(SUM(${c}), 0) AS ${c}`).join(', ')} FROM smtp_auth_minutes WHERE minute > ? AND minute <= ?`)
      .get(this.minute() - reportRanges[range], this.minute());
    return Object.fromEntries(reportCounters.map((c) => [c, Number((row as Record<string, unknown>)[c])])) as Record<ReportCounter, number>;
  }

  /** The counters over the range in chart buckets, oldest first; a bucket without traffic is 0. */
  series(range: ReportRange): ReportSeries {
    const bucketMinutes = seriesBucketMinutes[range];
    const count = reportRanges[range] / bucketMinutes;
    const end = this.minute() + 1; // the current minute is the last one in the range
    const start = end - count * bucketMinutes;
    const counters = Object.fromEntries(reportCounters.map((c) => [c, new Array<number>(count).fill(0)])) as Record<ReportCounter, number[]>;
    const rows = this.db
      .prepare(
        `SELECT CAST((minute - ?) / ? AS INTEGER) AS bucket, ${reportCounters.map((c) => `SUM(${c}) AS ${c}`).join(', ')} FROM smtp_auth_minutes
         WHERE minute >= ? AND minute < ? GROUP BY bucket`,
      )
      .all(start, bucketMinutes, start, end);
    for (const row of rows) for (const c of reportCounters) counters[c][Number(row.bucket)] = Number(row[c]);
    const times = Array.from({ length: count }, (_, i) => (start + i * bucketMinutes) * 60_000);
    return { bucketMinutes, times, counters };
  }

  /** One row per user, domain or IP over the range, busiest first. */
  bySender(range: ReportRange, grouping: ReportGrouping, limit = 1000): ReportRow[] {
    if (!groupings.includes(grouping)) throw new RangeError(`group by ${groupings.join(', ')}`);
    const column = grouping;
    const [first, last] = [this.minute() - reportRanges[range] + 1, this.minute()];
    // Whole days inside the range from the per-day rollup, the partial days at its edges from the minutes.
    const firstWholeDay = Math.ceil(first / minutesPerDay);
    const lastWholeDay = Math.floor((last + 1) / minutesPerDay) - 1;
    const columns = reportCounters.join(', ');
    const parts =
      firstWholeDay <= lastWholeDay
        ? {
            sql: `SELECT key, ${columns} FROM smtp_auth_days WHERE grouping = '${column}' AND day >= ? AND day <= ?
               UNION ALL SELECT ${column} AS key, ${columns} FROM smtp_auth_counts WHERE (minute >= ? AND minute < ?) OR (minute >= ? AND minute <= ?)`,
            args: [firstWholeDay, lastWholeDay, first, firstWholeDay * minutesPerDay, (lastWholeDay + 1) * minutesPerDay, last],
          }
        : { sql: `SELECT ${column} AS key, ${columns} FROM smtp_auth_counts WHERE minute >= ? AND minute <= ?`, args: [first, last] };
    const rows = this.db
      .prepare(
        `SELECT key, ${reportCounters.map((c) => `SUM(${c}) AS ${c}`).join(', ')} FROM (${parts.sql})
         GROUP BY key ORDER BY SUM(${reportCounters.join(' + ')}) DESC, key LIMIT ?`,
      )
      .all(...parts.args, limit);
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
