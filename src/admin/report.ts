// The Inbound SMTP Authentication report: totals over a range, the chart's
// buckets, the table by user, domain or client IP, and its CSV. The gateway
// writes the report database (src/mail/auth/report-store.ts); this only reads.
import {
  AuthReportStore,
  authReportPath,
  groupings,
  type ReportCounter,
  type ReportGrouping,
  type ReportRange,
  type ReportRow,
  type ReportSeries,
  reportCounterLabels,
  reportCounters,
  reportRanges,
} from '../mail/auth/report-store.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type { ReportCounter, ReportGrouping, ReportRange, ReportRow, ReportSeries };
export { groupings as reportGroupings, reportCounterLabels, reportCounters };
export const reportRangeNames = Object.keys(reportRanges) as ReportRange[];

export interface ReportQuery {
  range: ReportRange;
  groupBy: ReportGrouping;
  /** Rows of the table at most (the CSV has them all). */
  limit?: number;
}

export interface AuthReport {
  range: ReportRange;
  groupBy: ReportGrouping;
  totals: Record<ReportCounter, number>;
  series: ReportSeries;
  rows: ReportRow[];
}

function checked(query: ReportQuery): ReportQuery {
  if (!reportRangeNames.includes(query.range)) throw new AdminError(`the range is one of ${reportRangeNames.join(', ')}`, 'invalid');
  if (!groupings.includes(query.groupBy)) throw new AdminError(`group by ${groupings.join(', ')}`, 'invalid');
  return query;
}

function withStore<T>(runtime: Runtime, use: (store: AuthReportStore) => T): T {
  const store = new AuthReportStore(authReportPath(runtime.paths.root));
  try {
    return use(store);
  } finally {
    store.close();
  }
}

export function authReport(runtime: Runtime, actor: Actor, query: ReportQuery): AuthReport {
  authorize(actor, 'read');
  const { range, groupBy, limit = 50 } = checked(query);
  return withStore(runtime, (store) => ({ range, groupBy, totals: store.totals(range), series: store.series(range), rows: store.bySender(range, groupBy, limit) }));
}

/** The table by sender as CSV (RFC 4180, no spreadsheet formulas from user names). */
export function authReportCsv(runtime: Runtime, actor: Actor, query: ReportQuery): { fileName: string; csv: string } {
  authorize(actor, 'read');
  const { range, groupBy } = checked(query);
  const fileName = `smtp-auth-${range}-by-${groupBy}-${new Date().toISOString().slice(0, 10)}.csv`;
  return { fileName, csv: withStore(runtime, (store) => store.csv(range, groupBy)) };
}
