// bench/tls-handshake: what keeping the TLS key in the HSM costs. Full TLS handshakes
// per second (openssl s_time -new: no session resumption) against a node:tls server
// whose key is in SoftHSM2, referenced as the gateway's listeners reference it
// (src/hsm/tls-options.ts: the OpenSSL pkcs11 engine and an RFC 7512 URI), and against
// the same server with a PEM key of the same kind, in one run, for RSA-2048 and EC P-256.
// The ratio HSM / PEM is what the HSM costs.
// Usage (after `npm run build`): node bench/tls-handshake.ts [--seconds 4] [--runs 5] [--clients 2] [--json <file>]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TlsOptions } from 'node:tls';
import { parseArgs } from 'node:util';
import { TestCa } from '../test/helpers/test-ca.ts';
import { median, prepareAppliance, root, step } from './appliance.ts';
import { round, writeResult } from './result.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    runs: { type: 'string', default: '5' },
    clients: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const clients = Number(values.clients);
const work = mkdtempSync(join(tmpdir(), 'bench-tls-'));
const algorithms = ['rsa-2048', 'ec-p256'] as const;

function listen(options: TlsOptions): Promise<{ server: Server; port: number }> {
  // The gateway's floor (TLS 1.2); no session tickets or cache: every handshake is a full one.
  const server = createServer({ ...options, minVersion: 'TLSv1.2', sessionTimeout: 0, ticketKeys: undefined }, (socket) => {
    socket.on('error', () => {});
    socket.end();
  });
  server.on('tlsClientError', () => {});
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

/**
 * `clients` parallel `openssl s_time -new` for `seconds`: full handshakes per second, all
 * clients together, and the server's CPU time per handshake (this process: the TLS
 * server and, for the HSM key, SoftHSM2, which is a library loaded into it), which
 * other jobs on the machine disturb less than the rate.
 */
async function handshakesPerSecond(port: number, caPath: string): Promise<{ rate: number; cpuUs: number }> {
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const counts = await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<number>((resolve, reject) => {
          const child = spawn('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(seconds), '-CAfile', caPath], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d;
          });
          child.stderr.on('data', (d: Buffer) => {
            out += d;
          });
          child.on('close', (code) => {
            const match = /(\d+) connections in [\d.]+s/.exec(out);
            if (code !== 0 || !match) reject(new Error(`openssl s_time exited ${code}: ${out.trim()}`));
            else resolve(Number(match[1]));
          });
        }),
    ),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const handshakes = counts.reduce((a, b) => a + b, 0);
  return { rate: handshakes / elapsed, cpuUs: (used.user + used.system) / handshakes };
}

const servers: Server[] = [];
try {
  step('SoftHSM2 token with an RSA-2048 and an EC P-256 key, certificates from a site CA; PEM keys of the same kinds');
  const siteCa = new TestCa({ dir: join(work, 'pki', 'site-ca'), commonName: 'Bench Site CA' });
  const appliance = await prepareAppliance(
    join(work, 'appliance'),
    siteCa,
    algorithms.map((algorithm) => ({ label: `tls-${algorithm}`, algorithm })),
    () => {},
  );
  const { openRuntime } = await import(join(root, 'dist/os/runtime.js'));
  const { SessionPool } = await import(join(root, 'dist/hsm/pool.js'));
  const { HsmKeys } = await import(join(root, 'dist/hsm/keys.js'));
  const { HsmCertificates } = await import(join(root, 'dist/hsm/certificates.js'));
  const { readUserPin } = await import(join(root, 'dist/hsm/pin.js'));
  const { tlsOptionsFor } = await import(join(root, 'dist/hsm/tls-options.js'));
  const runtime = await openRuntime('bench', appliance.dir);
  // Stays logged in for the whole run, as the gateway service does (a logout would end the engine's session too).
  const pool = SessionPool.open({ modulePath: runtime.config.hsm.modulePath, tokenLabel: runtime.config.hsm.tokenLabel, userPin: readUserPin(appliance.pinFile), size: 1 });
  const certificates = new HsmCertificates(new HsmKeys(pool));

  const rows = [];
  const details: Record<string, unknown> = { seconds, runs, clients, tool: 'openssl s_time -new', protocol: 'TLS 1.3 (negotiated)' };
  for (const algorithm of algorithms) {
    const hsm = await listen(await tlsOptionsFor(certificates, `tls-${algorithm}`, { tokenLabel: appliance.tokenLabel, pinFile: appliance.pinFile }));
    const pemCertificate = siteCa.issue({
      commonName: 'localhost',
      key: algorithm,
      extensions: [
        'basicConstraints = CA:FALSE',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'subjectAltName = DNS:localhost, IP:127.0.0.1',
      ],
    });
    const pem = await listen({ cert: pemCertificate.pem + siteCa.pem, key: pemCertificate.keyPem });
    servers.push(hsm.server, pem.server);
    step(`${algorithm}: warm-up, then ${runs} runs of ${clients} x openssl s_time -new -time ${seconds}, HSM key then PEM key`);
    await handshakesPerSecond(hsm.port, siteCa.certPath);
    const hsmRuns: { rate: number; cpuUs: number }[] = [];
    const pemRuns: { rate: number; cpuUs: number }[] = [];
    for (let run = 0; run < runs; run++) {
      // Alternating short runs, so that a change in the machine's load falls on both.
      hsmRuns.push(await handshakesPerSecond(hsm.port, siteCa.certPath));
      pemRuns.push(await handshakesPerSecond(pem.port, siteCa.certPath));
    }
    const ours = median(hsmRuns.map((r) => r.rate));
    const peer = median(pemRuns.map((r) => r.rate));
    // The median of the back-to-back runs' ratios: a burst of load from other jobs falls on both sides of one ratio.
    const ratio = median(hsmRuns.map((h, i) => h.rate / pemRuns[i]!.rate));
    const hsmCpu = median(hsmRuns.map((r) => r.cpuUs));
    const pemCpu = median(pemRuns.map((r) => r.cpuUs));
    console.log(
      `${algorithm}: HSM key ${ours.toFixed(0)} handshakes/s (${hsmCpu.toFixed(0)} µs server CPU each), PEM key ${peer.toFixed(0)} handshakes/s (${pemCpu.toFixed(0)} µs), ratio ${ratio.toFixed(2)}`,
    );
    details[algorithm] = {
      hsmPerSecond: hsmRuns.map((r) => round(r.rate, 0)),
      pemPerSecond: pemRuns.map((r) => round(r.rate, 0)),
      hsmServerCpuUsPerHandshake: hsmRuns.map((r) => round(r.cpuUs, 0)),
      pemServerCpuUsPerHandshake: pemRuns.map((r) => round(r.cpuUs, 0)),
    };
    rows.push({
      name: `TLS full handshakes, ${algorithm} key in SoftHSM2 vs PEM key (same node:tls server)`,
      short: `TLS hs ${algorithm === 'ec-p256' ? 'EC' : 'RSA'}`,
      unit: 'hs/s',
      ours: round(ours, 0),
      peer: round(peer, 0),
      peerName: 'PEM key',
      ratio: round(ratio),
      target: '',
      higherIsBetter: true,
      note: `the ratio (median of ${runs} back-to-back runs' ratios) is what the HSM costs; server CPU per handshake ${hsmCpu.toFixed(0)} µs (HSM) vs ${pemCpu.toFixed(0)} µs (PEM), ratio ${(pemCpu / hsmCpu).toFixed(2)}`,
    });
  }
  writeResult('tls-handshake', rows, details);
  pool.close();
  runtime.close();
} finally {
  for (const server of servers) server.close();
  rmSync(work, { recursive: true, force: true });
}
