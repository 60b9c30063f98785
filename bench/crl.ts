// CRL load benchmark: a 1,000,000-entry DER CRL (about 40 MB) made by
// `openssl ca -gencrl` from a synthetic CA database, loaded by our scanner and
// index, against `openssl crl -inform DER -noout` on the same file; then lookup time.
//
//   npm run build && node bench/crl.ts [--entries 1000000] [--runs 3] [--generator openssl|node]
//
// --generator node writes the DER here and signs it with node:crypto (faster to make).
// Each load runs in a fresh child process so its peak RSS is its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCa } from '../test/helpers/test-ca.ts';
import { round, writeResult } from './result.ts';

const dist = new URL('../dist/mail/crl/', import.meta.url);

interface LoadResult {
  loadMs: number;
  baselineRssMb: number;
  peakRssMb: number;
  entries: number;
  lookupNs: number;
  checkNs: number;
}

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    generator: { type: 'string', default: 'openssl' },
    child: { type: 'string' },
    ca: { type: 'string' },
    certificate: { type: 'string' },
    json: { type: 'string' },
  },
});

if (values.child) {
  console.log(JSON.stringify(await loadInThisProcess(values.child, values.ca!, values.certificate!)));
} else {
  await main(Number(values.entries), Number(values.runs), values.generator === 'node' ? 'node' : 'openssl');
}

async function loadInThisProcess(crlPath: string, caPath: string, certificatePath: string): Promise<LoadResult> {
  const { scanCrl } = await import(new URL('scan.js', dist).href);
  const { judgeCrl } = await import(new URL('acceptance.js', dist).href);
  const { trustAnchors } = await import(new URL('certificate.js', dist).href);
  const { RevocationIndex } = await import(new URL('revocation-index.js', dist).href);
  const { serialKeyFromHex } = await import(new URL('der.js', dist).href);
  const anchors = trustAnchors([{ name: 'bench', pem: readFileSync(caPath, 'utf8') }]);
  const certificate = readFileSync(certificatePath);
  const baselineRssMb = memoryMb('VmRSS');

  const started = performance.now();
  const crl = scanCrl(readFileSync(crlPath));
  const verdict = judgeCrl(crl, anchors, { now: new Date(), heldFor: () => undefined });
  if (!verdict.accepted) throw new Error(`the bench CRL was refused: ${verdict.reason}`);
  const index = new RevocationIndex();
  index.replace({
    source: 'bench',
    issuer: verdict.anchor.fields.subject,
    keyId: verdict.anchor.keyId,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    revoked: crl.revoked,
  });
  const loadMs = performance.now() - started;
  const peakRssMb = memoryMb('VmHWM');

  // Lookups: every listed serial, then as many unlisted ones.
  const keys: string[] = [...crl.revoked.keys()];
  for (let i = 0; i < 100_000; i++) keys.push(serialKeyFromHex(`7f${i.toString(16).padStart(14, '0')}`));
  const held = index.all()[0]!;
  let hits = 0;
  let at = performance.now();
  for (const key of keys) if (held.revoked.has(key)) hits++;
  const lookupNs = ((performance.now() - at) * 1e6) / keys.length;
  if (hits !== crl.revoked.size) throw new Error(`lookup found ${hits} of ${crl.revoked.size}`);
  const checks = 100_000;
  at = performance.now();
  for (let i = 0; i < checks; i++) if (index.check(certificate).status !== 'revoked') throw new Error('the bench certificate should be revoked');
  const checkNs = ((performance.now() - at) * 1e6) / checks;
  return { loadMs, baselineRssMb, peakRssMb, entries: crl.revoked.size, lookupNs, checkNs };
}

// From /proc rather than getrusage: a child's ru_maxrss keeps the high-water mark of the parent it was forked from.
function memoryMb(field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!line) throw new Error(`no ${field} in /proc/self/status`);
  return Number(line[1]) / 1024;
}

async function main(entries: number, runs: number, generator: 'openssl' | 'node'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'crl-bench-'));
  try {
    const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Bench Root CA', organization: 'Bench', key: 'rsa-2048' });
    const user = ca.issue({ commonName: 'revoked user' });
    const crlPath = join(dir, 'big.crl');
    const made = performance.now();
    if (generator === 'openssl') {
      ca.revoke(user, 'keyCompromise');
      ca.addSyntheticRevocations(entries - 1, 'keyCompromise');
      writeFileSync(crlPath, ca.gencrl({ days: 7 }));
    } else {
      writeFileSync(crlPath, ca.writeCrl({ count: entries - 1, syntheticReason: 1, entries: [{ serial: user.serial, reason: 1 }], crlNumber: 42 }));
    }
    const certificatePath = join(dir, 'user.der');
    writeFileSync(certificatePath, user.der);
    const size = readFileSync(crlPath).length;
    const how = generator === 'openssl' ? 'openssl ca -gencrl' : 'node:crypto';
    console.log(`CRL: ${entries} entries, ${(size / 1048576).toFixed(1)} MB DER, made by ${how} in ${((performance.now() - made) / 1000).toFixed(1)} s`);
    console.log(`node ${process.version}, ${execFileSync('openssl', ['version']).toString().trim()}`);

    const ours: LoadResult[] = [];
    const theirs: { ms: number; peakRssMb: number }[] = [];
    for (let run = 0; run < runs; run++) {
      const child = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', crlPath, '--ca', ca.certPath, '--certificate', certificatePath], {
        encoding: 'utf8',
      });
      if (child.status !== 0) throw new Error(`the load child failed: ${child.stderr}`);
      ours.push(JSON.parse(child.stdout));
      const started = performance.now();
      const openssl = spawnSync('/usr/bin/time', ['-f', '%M', 'openssl', 'crl', '-inform', 'DER', '-in', crlPath, '-noout'], { encoding: 'utf8' });
      const ms = performance.now() - started;
      if (openssl.status !== 0) throw new Error(`openssl crl failed: ${openssl.stderr}`);
      theirs.push({ ms, peakRssMb: Number(openssl.stderr.trim().split('\n').pop()) / 1024 });
    }
    const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const load = median(ours.map((r) => r.loadMs));
    const opensslMs = median(theirs.map((r) => r.ms));
    const added = median(ours.map((r) => r.peakRssMb - r.baselineRssMb));
    const rows = [
      ['', 'time (median)', 'peak RSS', 'added RSS'],
      ['ours: scan + verify + index', `${(load / 1000).toFixed(2)} s`, `${median(ours.map((r) => r.peakRssMb)).toFixed(0)} MB`, `${added.toFixed(0)} MB`],
      ['openssl crl -inform DER -noout', `${(opensslMs / 1000).toFixed(2)} s`, `${median(theirs.map((r) => r.peakRssMb)).toFixed(0)} MB`, ''],
    ];
    for (const row of rows)
      console.log(
        `${row[0]!.padEnd(32)}${row
          .slice(1)
          .map((c) => c.padStart(14))
          .join('')}`,
      );
    console.log(
      `ratio ours/openssl: time ${(load / opensslMs).toFixed(2)} (target <= 1.5), peak RSS ${(median(ours.map((r) => r.peakRssMb)) / median(theirs.map((r) => r.peakRssMb))).toFixed(2)}`,
    );
    console.log(`added memory: ${added.toFixed(0)} MB (target < 200 MB)`);
    console.log(
      `lookup (serial in the index): ${median(ours.map((r) => r.lookupNs)).toFixed(0)} ns; check (certificate DER -> status): ${median(ours.map((r) => r.checkNs)).toFixed(0)} ns (target < 5 µs)`,
    );
    console.log(`runs: ${runs}; each load in a fresh node process, openssl peak RSS from /usr/bin/time`);
    const peakOurs = median(ours.map((r) => r.peakRssMb));
    const peakOpenssl = median(theirs.map((r) => r.peakRssMb));
    const lookupNs = median(ours.map((r) => r.lookupNs));
    const checkNs = median(ours.map((r) => r.checkNs));
    const label = `CRL of ${entries.toLocaleString('en')} entries (${(size / 1048576).toFixed(0)} MB)`;
    writeResult(
      'crl',
      [
        {
          name: `${label}: load time`,
          short: 'CRL load time',
          unit: 's',
          ours: round(load / 1000),
          peer: round(opensslMs / 1000),
          peerName: 'openssl crl -inform DER -noout',
          ratio: round(load / opensslMs),
          target: '<= 1.5',
          met: load / opensslMs <= 1.5,
          higherIsBetter: false,
        },
        {
          name: `${label}: memory added by the load`,
          short: 'CRL peak RSS',
          unit: 'MB',
          ours: round(added, 0),
          peer: round(peakOpenssl, 0),
          peerName: 'openssl peak RSS',
          ratio: round(peakOurs / peakOpenssl),
          target: '< 200 MB',
          met: added < 200,
          higherIsBetter: false,
          note: `ratio of peak RSS, ours ${peakOurs.toFixed(0)} MB`,
        },
        {
          name: 'revocation check, certificate DER -> status',
          short: 'CRL check',
          unit: 'µs',
          ours: round(checkNs / 1000),
          target: '< 5 µs',
          met: checkNs < 5000,
          higherIsBetter: false,
          note: `serial lookup ${(lookupNs / 1000).toFixed(2)} µs`,
        },
      ],
      { entries, megabytes: round(size / 1048576, 1), generator: how, runs, ours, openssl: theirs },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
