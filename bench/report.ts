// bench/report: gathers the JSON results bench/run collected (bench/results/raw/*.json,
// written by each benchmark's --json) into bench/results/README.md: the machine, the
// date, the load, one table row per figure (ours, peer, ratio, target, met?), and two
// charts drawn by gnuplot (Debian's gnuplot-nox): ratios against targets, and rates.
// Usage: node bench/report.ts [--quick] [--failed name,name] [--started <ISO date>]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchResult, ResultRow } from './result.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, failed: { type: 'string', default: '' }, started: { type: 'string' } } });
const results = resolve(import.meta.dirname, 'results');
const raw = join(results, 'raw');

/** The order of the table; anything else found follows. */
const order = ['gateway', 'tls-handshake', 'hsm-rsa-2048', 'hsm-ec-p256', 'crl', 'findevent', 'audit-tls'];
const found = existsSync(raw) ? readdirSync(raw).filter((f) => f.endsWith('.json')) : [];
const benchResults: BenchResult[] = found
  .map((f) => JSON.parse(readFileSync(join(raw, f), 'utf8')) as BenchResult)
  .sort((a, b) => (order.indexOf(a.benchmark) + 1 || 99) - (order.indexOf(b.benchmark) + 1 || 99));

function version(command: string, args: string[], pattern?: RegExp): string {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return pattern ? (pattern.exec(out)?.[1] ?? out) : out;
  } catch {
    return 'not installed';
  }
}
/** dpkg-query's format for a package's version (a literal, not a template). */
const dpkgVersion = ['$', '{Version}'].join('');
const osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
const machine = [
  ['cores', `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`],
  ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
  ['system', `${osName}, Linux ${version('uname', ['-r'])}`],
  ['Node.js', `${process.version} (its OpenSSL ${process.versions.openssl})`],
  ['OpenSSL (CLI, s_time)', version('openssl', ['version'], /OpenSSL (\S+)/)],
  ['Postfix (peer, smtp-source)', version('postconf', ['-d', '-h', 'mail_version'])],
  ['SoftHSM2', version('softhsm2-util', ['--version'])],
  ['libp11 engine', version('dpkg-query', ['-W', '-f', dpkgVersion, 'libengine-pkcs11-openssl'])],
  ['testssl.sh', version('dpkg-query', ['-W', '-f', dpkgVersion, 'testssl.sh'])],
];

const fmt = (x: number | undefined, unit = ''): string => {
  if (x === undefined || Number.isNaN(x)) return '—';
  const text = Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en') : String(x);
  return unit ? `${text} ${unit}` : text;
};
const cell = (text: string) => text.replaceAll('|', '\\|');
const rows: { result: BenchResult; row: ResultRow }[] = benchResults.flatMap((result) => result.rows.map((row) => ({ result, row })));

const table = [
  '| benchmark | command | ours | peer | ratio | target | met? |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(({ result, row }) =>
    [
      '',
      cell(row.name) + (row.note ? ` — ${cell(row.note)}` : ''),
      `\`${cell(result.command)}\``,
      fmt(row.ours, row.unit),
      row.peer === undefined ? '—' : `${cell(row.peerName ?? 'peer')}: ${fmt(row.peer, row.unit)}`,
      fmt(row.ratio),
      row.target || 'none set',
      row.met === undefined ? '—' : row.met ? '✔' : '✘',
      '',
    ]
      .join(' | ')
      .trim(),
  ),
  ...values.failed
    .split(',')
    .filter(Boolean)
    .map((name) => `| ${name}: **failed** (see the run's output) | | | | | | ✘ |`),
];

// Charts, with gnuplot.
function targetNumber(target: string): number | undefined {
  const match = /^[<>]=?\s*([\d.]+)\s*(?:\(|$)/.exec(target.trim());
  return match ? Number(match[1]) : undefined;
}
const charts: string[] = [];
const gnuplot = (script: string) => execFileSync('gnuplot', [], { input: script, stdio: ['pipe', 'inherit', 'inherit'] });
const ratioRows = rows.filter(({ row }) => row.ratio !== undefined);
const cap = 2.5; // a bar taller than this is cut, its label gives the value
if (ratioRows.length > 0) {
  const data = ratioRows
    .map(
      ({ row }) =>
        `"${row.short ?? row.name}${row.higherIsBetter === false ? ' ↓' : ' ↑'}" ${Math.min(row.ratio!, cap)} ${targetNumber(row.target) ?? '?'} "${row.ratio!.toFixed(2)}"`,
    )
    .join('\n');
  writeFileSync(join(results, 'ratios.dat'), `# label ratio(capped at ${cap}) target value\n${data}\n`);
  gnuplot(`set terminal pngcairo size 1000,520 font "DejaVu Sans,10"
set output "${join(results, 'ratios.png')}"
set datafile missing "?"
set title "Ours / peer, measured side by side (↑ higher is better, ↓ lower is better)"
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.7
set yrange [0:${Math.min(cap, Math.max(...ratioRows.map(({ row }) => row.ratio!), 1.5)) + 0.3}]
set grid ytics
set xtics rotate by -35 left
set key outside top center horizontal
set bmargin 8
plot "${join(results, 'ratios.dat')}" using 2:xtic(1) title "ratio ours / peer" lc rgb "#3b7dd8", \\
     "" using 0:2:4 with labels offset 0,0.8 notitle, \\
     "" using 0:3 with points pt 7 ps 1.6 lc rgb "#d83b3b" title "target"
`);
  charts.push('ratios.png');
}
const rateRows = rows.filter(({ row }) => row.peer !== undefined && /\/s$/.test(row.unit) && !row.unit.startsWith('sig'));
if (rateRows.length > 0) {
  const data = rateRows.map(({ row }) => `"${row.short ?? row.name} (${row.unit})" ${row.ours} ${row.peer} ${row.ratio}`).join('\n');
  writeFileSync(join(results, 'rates.dat'), `# label ours peer\n${data}\n`);
  gnuplot(`set terminal pngcairo size 900,480 font "DejaVu Sans,10"
set output "${join(results, 'rates.png')}"
set title "Messages and handshakes per second: ours against the peer, same machine, same run"
set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.8 border -1
set yrange [0:*]
set grid ytics
set key outside top center horizontal
set xtics rotate by -20 left
set bmargin 5
plot "${join(results, 'rates.dat')}" using 2:xtic(1) title "ours: gateway / key in SoftHSM2" lc rgb "#3b7dd8", \\
     "" using 3 title "peer: Postfix / PEM key" lc rgb "#9a9a9a", \\
     "" using ($0 - 0.2):2:(sprintf("%d", $2)) with labels offset 0,0.7 notitle, \\
     "" using ($0 + 0.2):3:(sprintf("%d", $3)) with labels offset 0,0.7 notitle
`);
  charts.push('rates.png');
}

const loads = benchResults.map((r) => `${r.benchmark} ${r.loadAverage.start[0]}→${r.loadAverage.end[0]}`).join(', ');
const dates = benchResults.map((r) => r.date).sort();
const audit = benchResults.find((r) => r.benchmark === 'audit-tls')?.details as
  | { protocols: Record<string, string>; clientRenegotiation: string; secureRenegotiation: string; highOrCritical: string[]; testssl: string }
  | undefined;
/** What other work keeps here (image build and boot, ssh-audit): listed, not generated. */
const generated = new Set(['README.md', 'raw', 'ratios.png', 'ratios.dat', 'rates.png', 'rates.dat', 'testssl-smtp.json', 'testssl-smtp-summary.json']);
const others = readdirSync(results).filter((f) => !generated.has(f));

const readme = `# Latest benchmark and audit results

Written by \`bench/run${values.quick ? ' --quick' : ''}\` (${values.quick ? '**quick pass: smaller sizes and fewer runs than the full benchmarks**' : 'full sizes'}), ${values.started ?? dates[0] ?? '?'} to ${(dates.at(-1) ?? new Date().toISOString()).replace(/\.\d+Z$/, 'Z')} (UTC).
Each benchmark measures the appliance and its peer on the same machine in the same run and
reports their ratio; how each works is in [\`bench/README.md\`](../README.md). The raw results
are in [\`raw/\`](raw/) (one JSON file per benchmark, every run's figures in \`details\`).

## Machine

${machine.map(([k, v]) => `- ${k}: ${v}`).join('\n')}

The machine is shared with other engineers' test runs: load average (1 min) at the start→end
of each benchmark: ${loads || '—'}; at the end of the run ${loadavg()[0]?.toFixed(2)}. Absolute
figures move with that load; the ratios, measured side by side, move less.

## Figures

${table.join('\n')}

Ratios are ours / peer. Where a benchmark repeats its runs, ours and peer are medians over the
runs and the ratio is the median of each run's ratio (the two sides run back to back), so it
can differ a little from ours / peer in the same row. "ours" is the appliance's code (the gateway service, its SoftHSM2
key, the session pool, the CRL index, findevent); the peer is Postfix ${version('postconf', ['-d', '-h', 'mail_version'])}, a PEM key in
the same TLS server, raw PKCS#11, \`openssl crl\` or \`grep\`.

${charts.map((c) => `![${c.replace('.png', '')}](${c})`).join('\n\n')}

## TLS audit of the STARTTLS listener

${
  audit
    ? `\`${audit.testssl}\` against the gateway with its key in SoftHSM2: [\`testssl-smtp-summary.json\`](testssl-smtp-summary.json)
(summary) and [\`testssl-smtp.json\`](testssl-smtp.json) (every finding). Protocols: ${Object.entries(audit.protocols)
        .map(([p, v]) => `${p} ${v}`)
        .join('; ')}. Secure renegotiation: ${audit.secureRenegotiation}; client-initiated
renegotiation: ${audit.clientRenegotiation}. Findings rated HIGH or CRITICAL: ${audit.highOrCritical.length === 0 ? 'none' : audit.highOrCritical.join('; ')}.`
    : 'Not run in this pass.'
}

## Not run by \`bench/run\`

- DKIM signing, heap over 10,000 signatures: \`DKIM_SIGNATURES=10000 tap test/integration/delivery-dkim.test.ts\`
  (a memory check inside a test); last measured 2026-11-29: 82.3 → 78.3 MB, flat.
${others.length ? `\n## Also in this folder\n\n${others.map((f) => `- [\`${f}\`](${f})`).join('\n')}\n` : ''}`;
writeFileSync(join(results, 'README.md'), readme);
process.stderr.write(`==> wrote ${join(results, 'README.md')}${charts.length ? ` and ${charts.join(', ')}` : ''}\n`);
