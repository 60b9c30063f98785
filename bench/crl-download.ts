// Memory of a CRL download through the real CRL service: a CRL of --entries entries
// (node:crypto generator) served by an HTTP server on 127.0.0.1, fetched by
// CrlService.fetchNow in a fresh child process (dist/), which reports its RSS before
// and its peak (VmHWM) after the download, scan, verification and swap into the index.
//
//   npm run build && node bench/crl-download.ts [--entries 1000000] [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCa } from '../test/helpers/test-ca.ts';

const dist = new URL('../dist/', import.meta.url);

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    child: { type: 'string' },
    ca: { type: 'string' },
    state: { type: 'string' },
  },
});

function memoryMb(field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!line) throw new Error(`no ${field} in /proc/self/status`);
  return Number(line[1]) / 1024;
}

if (values.child) {
  const { CrlService } = await import(new URL('mail/crl/crl-service.js', dist).href);
  const { factoryConfig } = await import(new URL('os/config/factory.js', dist).href);
  const { parseConfig } = await import(new URL('os/config/validate.js', dist).href);
  const config = parseConfig({
    ...factoryConfig('bench.example.com'),
    certificates: { trustStore: [{ name: 'bench', pem: readFileSync(values.ca!, 'utf8') }] },
    crl: { enabled: true, sources: [{ name: 'big', fileType: 'asn1', primaryUrl: values.child, schedule: { kind: 'daily', time: '03:00' }, timeoutSeconds: 600 }] },
  });
  const service = new CrlService({ config, stateDir: values.state!, alerts: { raise() {} }, logs: { write() {} }, fetchWhenMissing: false });
  const baselineRssMb = memoryMb('VmRSS');
  const started = performance.now();
  const status = await service.fetchNow('big');
  const ms = performance.now() - started;
  if (status.lastError) throw new Error(status.lastError);
  console.log(JSON.stringify({ baselineRssMb, peakRssMb: memoryMb('VmHWM'), afterRssMb: memoryMb('VmRSS'), entries: status.entries, ms }));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'crl-download-bench-'));
try {
  const entries = Number(values.entries);
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Bench Root CA', organization: 'Bench', key: 'rsa-2048' });
  const crl = ca.writeCrl({ count: entries, syntheticReason: 1, crlNumber: 42 });
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, ca.pem);
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': crl.length });
    response.end(crl);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big.crl`;
  console.log(`CRL: ${entries} entries, ${(crl.length / 1048576).toFixed(1)} MB DER; node ${process.version}`);
  const runs: { baselineRssMb: number; peakRssMb: number; afterRssMb: number; ms: number }[] = [];
  for (let run = 0; run < Number(values.runs); run++) {
    const state = mkdtempSync(join(dir, 'state-'));
    const child = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      // Asynchronous: this process serves the CRL while the child downloads it.
      const p = spawn(process.execPath, [new URL(import.meta.url).pathname, '--child', url, '--ca', caPath, '--state', state]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    if (child.status !== 0) throw new Error(`the child failed: ${child.stderr}`);
    runs.push(JSON.parse(child.stdout));
  }
  const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const r of runs)
    console.log(`  baseline ${r.baselineRssMb.toFixed(0)} MB, peak ${r.peakRssMb.toFixed(0)} MB, after ${r.afterRssMb.toFixed(0)} MB, ${(r.ms / 1000).toFixed(2)} s`);
  console.log(
    `median: baseline RSS ${median(runs.map((r) => r.baselineRssMb)).toFixed(0)} MB, peak RSS ${median(runs.map((r) => r.peakRssMb)).toFixed(0)} MB, added ${median(runs.map((r) => r.peakRssMb - r.baselineRssMb)).toFixed(0)} MB, download+load ${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s`,
  );
  server.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
