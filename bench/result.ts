// The machine-readable result every benchmark writes with `--json <file>`, which
// bench/run gathers into bench/results/README.md (bench/report.ts). One row per
// figure: ours, the peer's figure measured in the same run, their ratio, the target.
// Only node: imports and erasable TypeScript, so `node bench/*.ts` runs it.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';

export interface ResultRow {
  /** What is measured, e.g. "SMTP plain, 2 KB messages accepted and fsynced". */
  name: string;
  /** A few words for the chart's axis, e.g. "SMTP plain". */
  short?: string;
  unit: string;
  ours: number;
  /** The peer's figure in the same run, when there is one. */
  peer?: number;
  peerName?: string;
  /** ours / peer (or as the row says), rounded to 2 decimals. */
  ratio?: number;
  /** The target as text (e.g. ">= 0.9", "< 50 MB"); "" when the issue sets none. */
  target: string;
  met?: boolean;
  /** Whether a higher ratio is better (rates) or a lower one (times, memory). */
  higherIsBetter?: boolean;
  note?: string;
}

export interface BenchResult {
  benchmark: string;
  command: string;
  date: string;
  loadAverage: { start: number[]; end: number[] };
  rows: ResultRow[];
  details?: unknown;
}

const startLoad = loadavg().map((l) => Number(l.toFixed(2)));

/** The file named by `--json <file>`, if any. */
export function jsonPath(argv = process.argv): string | undefined {
  const at = argv.indexOf('--json');
  return at > 0 ? argv[at + 1] : undefined;
}

/** The command line as run, without --json and its file. */
export function commandLine(argv = process.argv): string {
  const args = argv.slice(2);
  const at = args.indexOf('--json');
  if (at >= 0) args.splice(at, 2);
  const script = argv[1]?.replace(/^.*\/bench\//, 'bench/') ?? '';
  return ['node', script, ...args].join(' ');
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** Writes the result to the --json file (if one was given) and returns it. */
export function writeResult(benchmark: string, rows: ResultRow[], details?: unknown): BenchResult {
  const result: BenchResult = {
    benchmark,
    command: commandLine(),
    date: new Date().toISOString(),
    loadAverage: { start: startLoad, end: loadavg().map((l) => Number(l.toFixed(2))) },
    rows,
    ...(details === undefined ? {} : { details }),
  };
  const file = jsonPath();
  if (file) writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
