// findevent over 1 GB of mail logs: the time to find every line of one MID
// against `grep -F` on the same files, in one run, as a ratio.
//   npm run build && node bench/findevent.ts [--mb 1024] [--file-mb 10] [--runs 3]
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEvents, logFiles } from '../dist/mail/findevent/findevent.js';
import { round, writeResult } from './result.ts';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const totalMb = option('mb', 1024);
const runs = option('runs', 3);
// Rolled files of the subscription's default size (maxFileBytes 10 MB); the current file half full.
const fileMb = option('file-mb', 10);
const root = mkdtempSync(join(tmpdir(), 'bench-findevent-'));
const dir = join(root, 'mail_logs');
mkdirSync(dir);

const stamp = (n: number) => `20261129T${String(n).padStart(6, '0')}000`;
const at = new Date('2026-11-29T00:00:00Z').getTime();
const when = (seconds: number) => {
  const d = new Date(at + seconds * 1000);
  return `${d.toUTCString().slice(0, 3)} Nov ${d.getUTCDate()} ${d.toISOString().slice(11, 19)} 2026`;
};

let clock = '';
function messageLines(mid: number, second: number): string {
  const icid = mid * 2;
  const dcid = mid * 3;
  if (mid % 100 === 0 || clock === '') clock = when(second);
  const t = clock;
  return [
    `${t} Info: New SMTP ICID ${icid} interface Management (192.0.2.10) address 198.51.100.${mid % 250} reverse dns host mail${mid % 97}.example.net verified yes`,
    `${t} Info: ICID ${icid} ACCEPT SG RELAYLIST match 198.51.100.0/24 SBRS not enabled`,
    `${t} Info: ICID ${icid} TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384`,
    `${t} Info: Start MID ${mid} ICID ${icid}`,
    `${t} Info: MID ${mid} ICID ${icid} From: <sender${mid % 5000}@example.com>`,
    `${t} Info: MID ${mid} ICID ${icid} RID 0 To: <rcpt${mid % 7000}@example.org>`,
    `${t} Info: MID ${mid} Message-ID "<${mid}.${icid}@example.com>"`,
    `${t} Info: MID ${mid} Subject "Quarterly report ${mid % 1000}"`,
    `${t} Info: MID ${mid} ready ${1000 + (mid % 50000)} bytes from <sender${mid % 5000}@example.com>`,
    `${t} Info: ICID ${icid} close`,
    `${t} Info: New SMTP DCID ${dcid} address 203.0.113.${mid % 250} port 25`,
    `${t} Info: Delivery start DCID ${dcid} MID ${mid} to RID [0] via mx.example.org:25`,
    `${t} Info: Message done DCID ${dcid} MID ${mid} to RID [0] ("250 2.0.0 Ok: queued as ${mid.toString(16).toUpperCase()}")`,
    `${t} Info: MID ${mid}: Message finished done`,
    `${t} Info: DCID ${dcid} close`,
    '',
  ].join('\n');
}

console.log(`generating ${totalMb} MB of mail logs in ${dir} …`);
const started = performance.now();
let mid = 1_000_000;
let target = 0;
let written = 0;
const files = Math.ceil(totalMb / fileMb) + 1;
for (let f = 0; f < files; f++) {
  const name = f === files - 1 ? 'mail_logs.current' : `mail_logs.@${stamp(f)}.s`;
  const fd = openSync(join(dir, name), 'w');
  let size = 0;
  const limit = (f === files - 1 ? fileMb / 2 : Math.min(fileMb, totalMb - f * fileMb)) * 1024 * 1024;
  while (size < limit) {
    let block = '';
    while (block.length < 256 * 1024) {
      block += messageLines(mid, mid - 1_000_000);
      if (f === Math.floor(files / 2) && target === 0 && size > limit / 2) target = mid;
      mid++;
    }
    size += writeSync(fd, block);
  }
  closeSync(fd);
  written += size;
}
console.log(
  `${(written / 1048576).toFixed(0)} MB in ${files} files (${mid - 1_000_000} messages) in ${((performance.now() - started) / 1000).toFixed(1)} s; looking for MID ${target}`,
);

const paths = logFiles(dir, 'mail_logs');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

function timeGrep(): { ms: number; lines: number } {
  const start = performance.now();
  let out = '';
  try {
    out = execFileSync('grep', ['-F', '-h', `MID ${target}`, ...paths], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch {}
  return { ms: performance.now() - start, lines: out.split('\n').filter(Boolean).length };
}

async function timeOurs(): Promise<{ ms: number; lines: number }> {
  const start = performance.now();
  const lines = await findEvents(dir, 'mail_logs', { mid: target });
  return { ms: performance.now() - start, lines: lines.length };
}

timeGrep(); // both read from the page cache from here on
// The first lookup indexes the rolled files (once for their lifetime); later lookups read only what the index points at.
const first = await timeOurs();
console.log(`first findevent (indexes ${paths.length - 1} rolled files): ${(first.ms / 1000).toFixed(1)} s`);
const ours: number[] = [];
const grep: number[] = [];
let ourLines = 0;
let grepLines = 0;
for (let i = 0; i < runs; i++) {
  const o = await timeOurs();
  const g = timeGrep();
  ours.push(o.ms);
  grep.push(g.ms);
  ourLines = o.lines;
  grepLines = g.lines;
}
const oursMs = median(ours);
const grepMs = median(grep);
console.log(`findevent MID ${target}, indexed: ${oursMs.toFixed(0)} ms, ${ourLines} lines (the message's lines, its connection lines included)`);
console.log(`grep -F "MID ${target}": ${grepMs.toFixed(0)} ms, ${grepLines} lines (MID lines only)`);
console.log(
  `ratio findevent/grep: ${(oursMs / grepMs).toFixed(3)} indexed (medians of ${runs}); ${(first.ms / grepMs).toFixed(2)} for the first lookup that builds the index; ${(statSync(paths[0] ?? dir).size / 1048576).toFixed(0)} MB per file`,
);
writeResult(
  'findevent',
  [
    {
      name: `findevent, one MID in ${totalMb} MB of mail logs (indexed)`,
      short: 'findevent',
      unit: 'ms',
      ours: round(oursMs, 0),
      peer: round(grepMs, 0),
      peerName: 'grep -F',
      ratio: round(oursMs / grepMs, 3),
      target: '< 1 (faster)',
      met: oursMs < grepMs,
      higherIsBetter: false,
      note: `first lookup, which builds the index: ${(first.ms / 1000).toFixed(1)} s`,
    },
  ],
  { megabytes: totalMb, fileMb, runs, files: paths.length, mid: target, ours, grep, ourLines, grepLines, firstMs: round(first.ms, 0) },
);
if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
else rmSync(root, { recursive: true, force: true });
