// HSM signing benchmark: signatures per second through the appliance's session
// pool (HsmKeys.sign, concurrent callers) against a raw pkcs11js loop
// (C_SignInit + C_Sign on one session, synchronous) on the same SoftHSM2 key,
// in one run. Reports the ratio pool / raw; the goal is at least 0.9.
// Both sides make the same signature from the same message: for EC the raw loop
// also hashes the message (SHA-256) and DER-encodes the signature, as the pool does
// and as TLS and DKIM need; the bare C_Sign rate is reported beside it.
//
//   npm run build && node bench/hsm.ts [--signatures 2000] [--runs 3] [--sessions 4] [--callers 0] [--algorithm rsa-2048] [--json <file>]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { round, writeResult } from './result.ts';

const { values } = parseArgs({
  options: {
    signatures: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    sessions: { type: 'string', default: '4' },
    algorithm: { type: 'string', default: 'rsa-2048' },
    callers: { type: 'string', default: '0' },
    json: { type: 'string' },
  },
});
const count = Number(values.signatures);
const runs = Number(values.runs);

const root = mkdtempSync(join(tmpdir(), 'bench-hsm-'));
const dist = new URL('../dist/', import.meta.url);
const load = (path: string) => import(new URL(path, dist).href);
const { hsmFiles } = await load('hsm/files.js');
const { provisionSoftHsm } = await load('hsm/provision.js');
const files = hsmFiles({ hsm: join(root, 'hsm'), run: join(root, 'run') });
process.env.SOFTHSM2_CONF = provisionSoftHsm(files);

const { openRuntime } = await load('os/runtime.js');
const { officerFor } = await load('hsm/context.js');
const { readUserPin } = await load('hsm/pin.js');
const { SessionPool } = await load('hsm/pool.js');
const { HsmKeys } = await load('hsm/keys.js');
const { keyAlgorithms, signMechanism } = await load('hsm/algorithms.js');
const { ecdsaRawToDer } = await load('hsm/der.js');
const pkcs11js = (await import('pkcs11js')).default;

const runtime = await openRuntime('bench', root);
try {
  officerFor(runtime).initialise('Bench-Officer-Pass-1');
  const pool = SessionPool.open({
    modulePath: runtime.config.hsm.modulePath,
    tokenLabel: runtime.config.hsm.tokenLabel,
    userPin: readUserPin(files.userPin),
    size: Number(values.sessions),
  });
  const keys = new HsmKeys(pool);
  await keys.generate({ label: 'bench', algorithm: values.algorithm });
  const handle = await keys.privateHandle('bench');
  const algorithm = keyAlgorithms[values.algorithm as keyof typeof keyAlgorithms];
  const mechanism = signMechanism(algorithm);
  const isEc = algorithm.kind === 'ec';
  const data = Buffer.alloc(32, 7); // the message (for EC both sides hash it first)

  const rawSession = pool.lib.C_OpenSession(pool.slot, pkcs11js.CKF_SERIAL_SESSION);
  interface Measure {
    rate: number;
    /** CPU time of this process per signature (SoftHSM2 is a library in it; the libuv pool's threads count too). */
    cpuUs: number;
  }
  const measure = async (work: () => void | Promise<void>): Promise<Measure> => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await work();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { rate: count / seconds, cpuUs: (used.user + used.system) / count };
  };
  /** The raw loop; `complete` makes the same signature the pool returns (EC: hash, sign, DER). */
  const raw = (complete = true) =>
    measure(() => {
      const out = Buffer.alloc(1024);
      for (let i = 0; i < count; i++) {
        pool.lib.C_SignInit(rawSession, mechanism, handle);
        if (isEc && complete) ecdsaRawToDer(pool.lib.C_Sign(rawSession, createHash(algorithm.hash).update(data).digest(), out));
        else pool.lib.C_Sign(rawSession, data, out);
      }
    });
  /** `callers` concurrent signers, each signing its share one after another (0: every signature asked for at once). */
  const callers = Number(values.callers);
  const pooled = () =>
    measure(async () => {
      if (callers > 0) {
        await Promise.all(
          Array.from({ length: callers }, async () => {
            for (let i = 0; i < count / callers; i++) await keys.sign('bench', data);
          }),
        );
      } else await Promise.all(Array.from({ length: count }, () => keys.sign('bench', data)));
    });

  await raw();
  await pooled(); // warm-up
  const rawRuns: Measure[] = [];
  const bareRuns: Measure[] = [];
  const poolRuns: Measure[] = [];
  for (let run = 0; run < runs; run++) {
    rawRuns.push(await raw());
    if (isEc) bareRuns.push(await raw(false));
    poolRuns.push(await pooled());
  }
  pool.lib.C_CloseSession(rawSession);
  pool.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rawRate = median(rawRuns.map((r) => r.rate));
  const poolRate = median(poolRuns.map((r) => r.rate));
  const bareRate = median(bareRuns.map((r) => r.rate));
  // The ratio is the median of each run's pool / raw: the two run back to back, so a burst of
  // load from other jobs falls on both, where a ratio of medians would mix different moments.
  const ratio = median(poolRuns.map((p, i) => p.rate / rawRuns[i]!.rate));
  const rawCpu = median(rawRuns.map((r) => r.cpuUs));
  const poolCpu = median(poolRuns.map((r) => r.cpuUs));
  const list = (xs: Measure[]) => xs.map((r) => r.rate.toFixed(0)).join(', ');
  console.log(`HSM signing, ${values.algorithm}, SoftHSM2, ${count} signatures x ${runs} runs, pool of ${values.sessions} sessions, ${callers || count} callers`);
  console.log(`  raw pkcs11js loop : ${rawRate.toFixed(0)} signatures/s, ${rawCpu.toFixed(0)} µs CPU each  (runs: ${list(rawRuns)})`);
  console.log(`  session pool      : ${poolRate.toFixed(0)} signatures/s, ${poolCpu.toFixed(0)} µs CPU each  (runs: ${list(poolRuns)})`);
  if (isEc) console.log(`  raw C_Sign alone  : ${bareRate.toFixed(0)} signatures/s  (no hash, no DER: not a usable signature; runs: ${list(bareRuns)})`);
  console.log(
    `  ratio pool / raw  : ${ratio.toFixed(2)}, median of the runs' ratios  (goal >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'}); CPU per signature raw / pool ${(rawCpu / poolCpu).toFixed(2)}`,
  );
  const notes = [`median of ${runs} back-to-back runs' ratios`, `CPU per signature ${poolCpu.toFixed(0)} µs pool vs ${rawCpu.toFixed(0)} µs raw`];
  if (isEc) notes.push(`bare C_Sign loop ${bareRate.toFixed(0)}/s`);
  writeResult(
    `hsm-${values.algorithm}`,
    [
      {
        name: `HSM signatures through the session pool, ${values.algorithm}`,
        short: `HSM pool ${values.algorithm === 'ec-p256' ? 'EC' : 'RSA'}`,
        unit: 'sig/s',
        ours: round(poolRate, 0),
        peer: round(rawRate, 0),
        peerName: isEc ? 'raw pkcs11js loop (hash + C_Sign + DER)' : 'raw pkcs11js C_Sign loop',
        ratio: round(ratio),
        target: '>= 0.9',
        met: ratio >= 0.9,
        higherIsBetter: true,
        note: notes.join('; '),
      },
    ],
    { signatures: count, runs, sessions: Number(values.sessions), callers: callers || count, raw: rawRuns, pool: poolRuns, ...(isEc ? { bare: bareRuns } : {}) },
  );
} finally {
  runtime.close();
  rmSync(root, { recursive: true, force: true });
}
