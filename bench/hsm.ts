// HSM signing benchmark: signatures per second through the appliance's session
// pool (HsmKeys.sign, concurrent callers) against a raw pkcs11js loop
// (C_SignInit + C_Sign on one session, synchronous) on the same SoftHSM2 key,
// in one run. Reports the ratio pool / raw; the goal is at least 0.9.
// Both sides make the same signature from the same message: for EC the raw loop
// also hashes the message (SHA-256) and DER-encodes the signature, as the pool does
// and as TLS and DKIM need; the bare C_Sign rate is reported beside it.
//
//   npm run build && node bench/hsm.ts [--signatures 2000] [--runs 3] [--sessions 4] [--algorithm rsa-2048] [--json <file>]
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
  /** The raw loop; `complete` makes the same signature the pool returns (EC: hash, sign, DER). */
  const raw = (complete = true) => {
    const out = Buffer.alloc(1024);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      pool.lib.C_SignInit(rawSession, mechanism, handle);
      if (isEc && complete) ecdsaRawToDer(pool.lib.C_Sign(rawSession, createHash(algorithm.hash).update(data).digest(), out));
      else pool.lib.C_Sign(rawSession, data, out);
    }
    return count / ((performance.now() - started) / 1000);
  };
  const pooled = async () => {
    const started = performance.now();
    await Promise.all(Array.from({ length: count }, () => keys.sign('bench', data)));
    return count / ((performance.now() - started) / 1000);
  };

  raw();
  await pooled(); // warm-up
  const rawRates: number[] = [];
  const bareRates: number[] = [];
  const poolRates: number[] = [];
  for (let run = 0; run < runs; run++) {
    rawRates.push(raw());
    if (isEc) bareRates.push(raw(false));
    poolRates.push(await pooled());
  }
  pool.lib.C_CloseSession(rawSession);
  pool.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rawRate = median(rawRates);
  const poolRate = median(poolRates);
  console.log(`HSM signing, ${values.algorithm}, SoftHSM2, ${count} signatures x ${runs} runs, pool of ${values.sessions} sessions`);
  console.log(`  raw pkcs11js loop : ${rawRate.toFixed(0)} signatures/s  (runs: ${rawRates.map((r) => r.toFixed(0)).join(', ')})`);
  console.log(`  session pool      : ${poolRate.toFixed(0)} signatures/s  (runs: ${poolRates.map((r) => r.toFixed(0)).join(', ')})`);
  if (isEc) console.log(`  raw C_Sign alone  : ${median(bareRates).toFixed(0)} signatures/s  (no hash, no DER: not a usable signature)`);
  console.log(`  ratio pool / raw  : ${(poolRate / rawRate).toFixed(2)}  (goal >= 0.9: ${poolRate / rawRate >= 0.9 ? 'met' : 'NOT met'})`);
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
        ratio: round(poolRate / rawRate),
        target: '>= 0.9',
        met: poolRate / rawRate >= 0.9,
        higherIsBetter: true,
        ...(isEc ? { note: `bare C_Sign loop ${median(bareRates).toFixed(0)}/s (ratio ${(poolRate / median(bareRates)).toFixed(2)})` } : {}),
      },
    ],
    { signatures: count, runs, sessions: Number(values.sessions), rawRates, poolRates, ...(isEc ? { bareRates } : {}) },
  );
} finally {
  runtime.close();
  rmSync(root, { recursive: true, force: true });
}
