// What the SMTP and TLS benchmarks share: an appliance state folder with a SoftHSM2
// token, keys generated in it with certificates from a site CA (the openssl CLI),
// the real gateway service started on a committed configuration, and RSS sampling.
// Run from bench/*.ts after `npm run build` (it imports dist/).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { ApplianceConfig } from '../src/os/config/schema.ts';
import type { TestCa } from '../test/helpers/test-ca.ts';

export const root = resolve(import.meta.dirname, '..');
const dist = (path: string) => import(join(root, 'dist', path));

export const step = (text: string): void => {
  process.stderr.write(`==> ${text}\n`);
};

export interface HsmKeySpec {
  label: string;
  algorithm: 'ec-p256' | 'rsa-2048';
}

export interface PreparedAppliance {
  dir: string;
  /** The environment the appliance's services run with (APPLIANCE_STATE_DIR, SOFTHSM2_CONF). */
  env: NodeJS.ProcessEnv;
  tokenLabel: string;
  pinFile: string;
}

/**
 * Provisions SoftHSM2 under `dir`, initialises the token (FIPS Officer), generates
 * each key in it, has `siteCa` sign a server certificate for it (localhost,
 * 127.0.0.1) and imports the chain, then commits `configure(config)`.
 */
export async function prepareAppliance(dir: string, siteCa: TestCa, keys: HsmKeySpec[], configure: (config: ApplianceConfig) => void): Promise<PreparedAppliance> {
  const conf = execFileSync(join(root, 'softhsm/provision'), [dir], { encoding: 'utf8' }).trim();
  process.env.SOFTHSM2_CONF = conf;
  const { openRuntime } = await dist('os/runtime.js');
  const { officerFor } = await dist('hsm/context.js');
  const { SessionPool } = await dist('hsm/pool.js');
  const { HsmKeys } = await dist('hsm/keys.js');
  const { HsmCertificates } = await dist('hsm/certificates.js');
  const { readUserPin } = await dist('hsm/pin.js');
  const runtime = await openRuntime('bench', dir);
  try {
    officerFor(runtime).initialise('Bench-Officer-Pass-1');
    const pinFile = join(dir, 'hsm', 'crypto-user.pin');
    const pool = SessionPool.open({ modulePath: runtime.config.hsm.modulePath, tokenLabel: runtime.config.hsm.tokenLabel, userPin: readUserPin(pinFile), size: 1 });
    const hsmKeys = new HsmKeys(pool);
    const certificates = new HsmCertificates(hsmKeys);
    const ext = join(dir, 'server.ext');
    writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
    for (const key of keys) {
      await hsmKeys.generate({ label: key.label, algorithm: key.algorithm });
      const csr = join(dir, `${key.label}.csr`);
      writeFileSync(csr, await certificates.csr(key.label, { subject: { commonName: 'localhost' }, dnsNames: ['localhost'] }));
      const signed = execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', siteCa.certPath, '-CAkey', siteCa.keyPath, '-CAcreateserial', '-days', '30', '-extfile', ext], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await certificates.import(key.label, signed + siteCa.pem);
    }
    pool.close();
    const revision = runtime.store.committed();
    const config = structuredClone(revision.config);
    configure(config);
    await runtime.store.commit(config, { user: 'bench', source: 'local', baseRevision: revision.meta.revision, comment: 'benchmark listeners' });
    return { dir, env: { ...process.env, APPLIANCE_STATE_DIR: dir, SOFTHSM2_CONF: conf, LOG_LEVEL: 'warn' }, tokenLabel: runtime.config.hsm.tokenLabel, pinFile };
  } finally {
    runtime.close();
  }
}

/** Starts the real gateway service (dist/mail/gateway-service.js) on the prepared state; resolves once it wrote its pid file. */
export async function startGatewayService(appliance: PreparedAppliance): Promise<{ pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [join(root, 'dist/mail/gateway-service.js')], { env: appliance.env, stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise<void>((resolveReady, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the gateway exited (${code}) before it was ready`));
    child.once('exit', onExit);
    const deadline = setTimeout(() => reject(new Error('the gateway did not start within 60 s')), 60_000);
    const poll = setInterval(() => {
      if (existsSync(join(appliance.dir, 'run', 'gateway.pid'))) {
        clearInterval(poll);
        clearTimeout(deadline);
        child.off('exit', onExit);
        resolveReady();
      }
    }, 100);
  });
  return { pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      }).on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

function statusKb(pid: number, field: string): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(match?.[1] ?? 0);
  } catch {
    return 0; // the process has gone
  }
}

/** VmRSS of one process, in kB. */
export const rssKb = (pid: number): number => statusKb(pid, 'VmRSS');

/** Proportional set size (shared pages divided among the processes that share them), in kB. */
export function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The process and all its descendants. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const child of parents.get(p) ?? []) walk(child);
  };
  walk(pid);
  return out;
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}
