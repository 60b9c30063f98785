// A real SoftHSM2 token per test: its own state folder, token folder and
// SOFTHSM2_CONF. PKCS#11 is never mocked.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { HsmCertificates } from '../../src/hsm/certificates.js';
import { officerFor } from '../../src/hsm/context.js';
import { type HsmFiles, hsmFiles } from '../../src/hsm/files.js';
import { HsmKeys } from '../../src/hsm/keys.js';
import { readUserPin } from '../../src/hsm/pin.js';
import { SessionPool } from '../../src/hsm/pool.js';
import { provisionSoftHsm } from '../../src/hsm/provision.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';
import { openRuntime, type Runtime } from '../../src/os/runtime.js';
import { tempState } from './state.js';

export const softhsmModule = '/usr/lib/softhsm/libsofthsm2.so';
export const officerPassword = 'Correct-Horse-42';

export interface TestToken {
  root: string;
  files: HsmFiles;
  hsm: ApplianceConfig['hsm'];
  runtime: Runtime;
  /** Environment for child processes on this token. */
  env: NodeJS.ProcessEnv;
}

/** A provisioned, not yet initialised token; this process's SOFTHSM2_CONF points at it for the test. */
export async function blankToken(t: Test): Promise<TestToken> {
  const root = tempState(t, 'appliance-hsm-');
  const files = hsmFiles({ hsm: `${root}/hsm`, run: `${root}/run` });
  const conf = provisionSoftHsm(files);
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  t.teardown(() => {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  });
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  return { root, files, hsm: runtime.config.hsm, runtime, env: { ...process.env, SOFTHSM2_CONF: conf, APPLIANCE_STATE_DIR: root } };
}

/** A token through FIPS initialisation, with its crypto-user PIN. */
export async function initialisedToken(t: Test): Promise<TestToken & { userPin: string }> {
  const token = await blankToken(t);
  officerFor(token.runtime).initialise(officerPassword);
  return { ...token, userPin: readUserPin(token.files.userPin) };
}

/** pkcs11-tool on the test's token; `ok` is false when it exits non-zero. */
export function pkcs11Tool(token: TestToken, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('pkcs11-tool', ['--module', softhsmModule, ...args], { env: token.env, encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8' });
}

/** The services' view of the token: a pool logged in as the crypto user, keys and certificates. */
export function openHsm(t: Test, token: TestToken & { userPin: string }, size = 4) {
  const pool = SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: token.userPin, size });
  t.teardown(() => pool.close());
  const keys = new HsmKeys(pool);
  return { pool, keys, certificates: new HsmCertificates(keys) };
}

/** A certificate authority made with the openssl CLI, in the test's state folder. */
export function testCa(token: TestToken, name = 'Test CA') {
  const dir = join(token.root, `ca-${name.replace(/\W/g, '')}`);
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`]);
  return {
    cert,
    pem: readFileSync(cert, 'utf8'),
    /** Signs a CSR (PEM) and returns the certificate (PEM). */
    sign(csrPem: string, extensions = 'subjectAltName=DNS:mail.example.com\nextendedKeyUsage=serverAuth,clientAuth'): string {
      const csr = join(dir, 'req.csr');
      const ext = join(dir, 'ext.cnf');
      writeFileSync(csr, csrPem);
      writeFileSync(ext, `${extensions}\n`);
      return openssl(['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-CAcreateserial', '-days', '10', '-extfile', ext]);
    },
  };
}

/** openssl s_client against a local TLS server: everything it printed, including what the server sent. */
export function sClient(port: number, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'mail.example.com', '-CAfile', caFile, '-verify_return_error', '-brief', '-ign_eof'];
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const collect = (d: Buffer) => {
      output += d;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', () => resolve(output));
    child.stdin.end();
  });
}
