// bench/audit-tls: testssl.sh (Debian's package) against the gateway's STARTTLS
// listener, with its key in a SoftHSM2 token. Saves the full JSON report and a
// summary to bench/results/, and fails when testssl finds anything rated HIGH or
// CRITICAL, a protocol below TLS 1.2, or client-initiated renegotiation (seed 55972).
// Usage (after `npm run build`): node bench/audit-tls.ts [--json <file>]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeResult } from './result.ts';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'audit-tls-'));
const port = 2627;
const officerPassword = 'Audit-Officer-Pass-1';
let caFile = '';
/** Protocols, cipher categories, forward secrecy, server defaults (the certificate), vulnerabilities. */
const testsslChecks = ['-p', '-s', '-f', '-S', '-U'];
const step = (text: string) => process.stderr.write(`==> ${text}\n`);

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

async function prepareAppliance(): Promise<NodeJS.ProcessEnv> {
  const conf = execFileSync(join(root, 'softhsm/provision'), [work], { encoding: 'utf8' }).trim();
  const env = { ...process.env, APPLIANCE_STATE_DIR: work, SOFTHSM2_CONF: conf, LOG_LEVEL: 'warn' };
  process.env.SOFTHSM2_CONF = conf;
  const { openRuntime } = await import(join(root, 'dist/os/runtime.js'));
  const { officerFor } = await import(join(root, 'dist/hsm/context.js'));
  const { SessionPool } = await import(join(root, 'dist/hsm/pool.js'));
  const { HsmKeys } = await import(join(root, 'dist/hsm/keys.js'));
  const { HsmCertificates } = await import(join(root, 'dist/hsm/certificates.js'));
  const { readUserPin } = await import(join(root, 'dist/hsm/pin.js'));
  const runtime = await openRuntime('audit', work);
  officerFor(runtime).initialise(officerPassword);
  const pool = SessionPool.open({
    modulePath: runtime.config.hsm.modulePath,
    tokenLabel: runtime.config.hsm.tokenLabel,
    userPin: readUserPin(join(work, 'hsm', 'crypto-user.pin')),
    size: 1,
  });
  const keys = new HsmKeys(pool);
  const certificates = new HsmCertificates(keys);
  await keys.generate({ label: 'gateway-tls', algorithm: 'ec-p256' });
  // A certificate as a site would have one: from its CA (given to testssl with --add-ca),
  // naming the address testssl connects to, a year long, with a CRL distribution point.
  const { TestCa } = await import(join(root, 'test/helpers/test-ca.ts'));
  const ca = new TestCa({ dir: join(work, 'ca'), commonName: 'Audit Site CA', days: 3650 });
  const csr = join(work, 'gateway.csr');
  writeFileSync(csr, await certificates.csr('gateway-tls', { subject: { commonName: 'localhost' }, dnsNames: ['localhost'] }));
  const ext = join(work, 'gateway.ext');
  writeFileSync(
    ext,
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\ncrlDistributionPoints=URI:http://crl.example.com/audit.crl\n',
  );
  const signed = execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial', '-days', '365', '-extfile', ext], {
    encoding: 'utf8',
  });
  await certificates.import('gateway-tls', signed + ca.pem);
  caFile = ca.certPath;
  pool.close();
  const revision = runtime.store.committed();
  const config = structuredClone(revision.config);
  config.listeners = [
    {
      name: 'Audit',
      address: '127.0.0.1',
      port,
      hostname: 'audit.example.com',
      type: 'public',
      receivedHeaderHostname: 'listener',
      certificate: 'gateway-tls',
      maxConnections: 200,
      verifyReverseDns: false,
      acceptedDomains: ['example.com'],
      defaultPolicy: 'DEFAULT',
      policies: [
        { name: 'DEFAULT', connection: 'accept', maxMessageBytes: 1_000_000, maxRecipientsPerMessage: 10, maxMessagesPerConnection: 100, tls: 'preferred', smtpAuth: 'off' },
      ],
      hostAccessTable: [],
    },
  ];
  await runtime.store.commit(config, { user: 'audit', source: 'local', baseRevision: revision.meta.revision, comment: 'TLS audit listener' });
  runtime.close();
  return env;
}

const stops: (() => void)[] = [];
try {
  step('provisioning SoftHSM2, a key and a certificate in it, and a STARTTLS listener');
  const env = await prepareAppliance();
  const gateway = spawn(process.execPath, [join(root, 'dist/mail/gateway-service.js')], { env, stdio: 'ignore' });
  stops.push(() => gateway.kill('SIGTERM'));
  for (let i = 0; i < 300 && !existsSync(join(work, 'run', 'gateway.pid')); i++) await new Promise((r) => setTimeout(r, 100));

  step('running testssl.sh --starttls smtp: protocols, cipher categories, forward secrecy, server defaults, vulnerabilities (a few minutes)');
  const jsonFile = join(work, 'testssl.json');
  const run = spawn(
    'testssl',
    ['--starttls', 'smtp', ...testsslChecks, '--add-ca', caFile, '--quiet', '--color', '0', '--warnings', 'batch', '--jsonfile', jsonFile, `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  await new Promise((r) => run.on('exit', r));
  const findings = JSON.parse(readFileSync(jsonFile, 'utf8')) as Finding[];

  const bad = findings.filter((f) => ['HIGH', 'CRITICAL'].includes(f.severity));
  const offered = (id: string) => findings.find((f) => f.id === id)?.finding ?? 'not reported';
  const summary = {
    date: new Date().toISOString(),
    machine: `${execFileSync('uname', ['-srm'], { encoding: 'utf8' }).trim()}, ${(await import('node:os')).cpus().length} cores`,
    command: 'node bench/audit-tls.ts',
    testssl: `testssl --starttls smtp ${testsslChecks.join(' ')} --add-ca <site CA>`,
    protocols: Object.fromEntries(['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2', 'TLS1_3'].map((p) => [p, offered(p)])),
    clientRenegotiation: offered('secure_client_renego'),
    secureRenegotiation: offered('secure_renego'),
    highOrCritical: bad.map((f) => `${f.id}: ${f.finding}`),
  };
  const results = join(root, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'testssl-smtp.json'), `${JSON.stringify(findings, null, 1)}\n`);
  writeFileSync(join(results, 'testssl-smtp-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
  const oldProtocols = ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1'].filter((p) => !/not offered/i.test(offered(p)));
  const renegotiationOk = /not vulnerable/i.test(summary.clientRenegotiation);
  writeResult(
    'audit-tls',
    [
      {
        name: 'testssl.sh on the STARTTLS listener: findings rated HIGH or CRITICAL',
        short: 'testssl HIGH',
        unit: 'findings',
        ours: bad.length,
        target: '0',
        met: bad.length === 0,
        higherIsBetter: false,
      },
      {
        name: 'testssl.sh: protocols below TLS 1.2 offered, client-initiated renegotiation',
        short: 'testssl old',
        unit: 'findings',
        ours: oldProtocols.length + (renegotiationOk ? 0 : 1),
        target: '0',
        met: oldProtocols.length === 0 && renegotiationOk,
        higherIsBetter: false,
        note: 'reports: testssl-smtp.json, testssl-smtp-summary.json',
      },
    ],
    summary,
  );
  if (bad.length > 0 || oldProtocols.length > 0 || !/not vulnerable/i.test(summary.clientRenegotiation)) process.exitCode = 1;
} finally {
  for (const stop of stops) stop();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
