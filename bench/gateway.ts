// bench/gateway: the SMTP gateway side by side with Postfix, on the same machine, in one run.
//   1. memory: 200 concurrent sessions (half of them mid-DATA) held open against each;
//      the gateway's VmRSS, Postfix's processes' RSS and PSS;
//   2. plain SMTP: smtp-source (Postfix's load generator) sends 2 KB messages over 20
//      parallel sessions to each; messages accepted (fsynced before 250) per second;
//   3. STARTTLS with a client certificate: the same load from bench/smtp-load.ts (smtp-source
//      has no TLS), a full handshake per connection, against the gateway with its key in
//      SoftHSM2 and Postfix with a PEM key and smtpd_tls_req_ccert;
//   4. 20 connections sending 2 MB messages to the gateway: RSS growth.
// Usage (as root, after `npm run build`):
//   node bench/gateway.ts [--messages 3000] [--tls-messages 1000] [--sessions 200] [--runs 3] [--big 3] [--json <file>]
// Postfix comes from Debian's package; the benchmark sets up its own instance in a
// temporary folder (the only change outside it: /etc/postfix/main.cf allows that folder).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCa } from '../test/helpers/test-ca.ts';
import { median, type PreparedAppliance, prepareAppliance, processTree, pssKb, rssKb, startGatewayService, step, waitForPort } from './appliance.ts';
import { round, writeResult } from './result.ts';
import { type ClientTls, holdSessions, messageOfSize, sendLoad } from './smtp-load.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    'tls-messages': { type: 'string', default: '1000' },
    sessions: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    big: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const plainMessages = Number(values.messages);
const tlsMessages = Number(values['tls-messages']);
const sessionCount = Number(values.sessions);
const runs = Number(values.runs);
const parallel = 20;
const messageBytes = 2048;
/** Messages per STARTTLS connection: each connection costs one full handshake. */
const perTlsConnection = 10;

const work = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
const ports = { gatewayPlain: 2625, postfixPlain: 2626, gatewayTls: 2635, postfixTls: 2636 };

function pki() {
  const siteCa = new TestCa({ dir: join(work, 'pki', 'site-ca'), commonName: 'Bench Site CA' });
  const clientCa = new TestCa({ dir: join(work, 'pki', 'client-ca'), commonName: 'Bench Client CA' });
  const client = clientCa.issue({ commonName: 'LOAD.CLIENT.1234567890' });
  const postfixServer = siteCa.issue({
    commonName: 'localhost',
    extensions: ['basicConstraints = CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth', 'subjectAltName = DNS:localhost, IP:127.0.0.1'],
  });
  const clientTls: ClientTls = { cert: client.pem, key: client.keyPem, ca: siteCa.pem };
  return { siteCa, clientCa, postfixServer, clientTls };
}

async function prepareGateway(siteCa: TestCa, clientCa: TestCa): Promise<PreparedAppliance> {
  const policy = { connection: 'relay', maxMessageBytes: 20_000_000, maxRecipientsPerMessage: 100, maxMessagesPerConnection: 100_000, smtpAuth: 'off' } as const;
  const listener = {
    address: '127.0.0.1',
    hostname: 'bench.localdomain',
    type: 'private',
    receivedHeaderHostname: 'listener',
    maxConnections: 1000,
    verifyReverseDns: false,
  } as const;
  return prepareAppliance(join(work, 'gateway'), siteCa, [{ label: 'gateway-tls', algorithm: 'ec-p256' }], (config) => {
    config.certificates.trustStore = [clientCa.trustStoreEntry('bench-clients')];
    config.listeners = [
      {
        ...listener,
        name: 'Plain',
        port: ports.gatewayPlain,
        acceptedDomains: ['example.com'],
        defaultPolicy: 'DEFAULT',
        policies: [{ ...policy, name: 'DEFAULT', tls: 'off' }],
        hostAccessTable: [],
      },
      {
        ...listener,
        name: 'ClientCert',
        port: ports.gatewayTls,
        certificate: 'gateway-tls',
        acceptedDomains: ['example.com'],
        defaultPolicy: 'DEFAULT',
        policies: [{ ...policy, name: 'DEFAULT', tls: 'required', verifyClientCertificate: true }],
        hostAccessTable: [],
      },
    ];
  });
}

function startPostfix(serverKey: string, serverCert: string, clientCaPath: string): { dir: string; stop: () => void } {
  const dir = join(work, 'postfix');
  for (const sub of ['conf', 'queue', 'data']) mkdirSync(join(dir, sub), { recursive: true });
  execFileSync('chmod', ['755', work, dir]);
  chownSync(join(dir, 'data'), Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' })), 0);
  writeFileSync(
    join(dir, 'conf', 'main.cf'),
    `compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localdomain
mydestination =
relay_domains = example.com
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
alias_maps =
alias_database =
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
message_size_limit = 20000000
smtpd_client_connection_count_limit = 0
default_process_limit = ${Math.max(100, sessionCount + 50)}
smtpd_tls_chain_files = ${serverKey}, ${serverCert}
smtpd_tls_CAfile = ${clientCaPath}
smtpd_tls_security_level = may
smtpd_tls_ask_ccert = yes
smtpd_tls_session_cache_database =
`,
  );
  const master = readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((line) => {
      const fields = line.split(/\s+/);
      if (!/^[a-z0-9.:]+$/.test(fields[0] ?? '') || fields.length < 8) return line;
      if (fields[0] === 'smtp' && fields[1] === 'inet') fields[0] = `127.0.0.1:${ports.postfixPlain}`;
      if (fields[4] === 'y') fields[4] = 'n'; // no chroot: the queue is in a temporary folder
      return fields.join(' ');
    })
    .join('\n');
  // The client-certificate service: TLS required, and a client certificate that verifies against the client CA.
  const tlsService = `127.0.0.1:${ports.postfixTls} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_tls_req_ccert=yes`;
  writeFileSync(join(dir, 'conf', 'master.cf'), `${master}\n${tlsService}\n`);
  const defaults = existsSync('/etc/postfix/main.cf') ? readFileSync('/etc/postfix/main.cf', 'utf8') : '';
  if (!defaults.includes(`${dir}/conf`)) {
    writeFileSync('/etc/postfix/main.cf', `${defaults.replace(/^alternate_config_directories.*$/m, '')}\nalternate_config_directories = ${dir}/conf\n`);
  }
  execFileSync('postfix', ['-c', join(dir, 'conf'), 'start'], { stdio: 'inherit' });
  return { dir, stop: () => execFileSync('postfix', ['-c', join(dir, 'conf'), 'stop'], { stdio: 'inherit' }) };
}

/** smtp-source: `messages` messages of `messageBytes` over `parallel` sessions that stay connected (-d). */
function smtpSource(port: number, messages: number): Promise<{ seconds: number; perSecond: number }> {
  const args = [
    '-s',
    String(parallel),
    '-m',
    String(messages),
    '-l',
    String(messageBytes),
    '-d',
    '-f',
    'load@example.com',
    '-t',
    'sink@example.com',
    '-M',
    'load.example.com',
    `127.0.0.1:${port}`,
  ];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/sbin/smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (d: Buffer) => {
      errors += d;
    });
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0 || errors.trim()) reject(new Error(`smtp-source ${args.join(' ')} exited ${code}: ${errors.trim()}`));
      else resolve({ seconds, perSecond: messages / seconds });
    });
  });
}

const gatewaySpoolCount = () => readdirSync(join(work, 'gateway', 'spool', 'incoming')).filter((f) => f.endsWith('.msg')).length;
const postfixAccepted = (dir: string) => {
  try {
    return (readFileSync(join(dir, 'maillog'), 'utf8').match(/postfix\/cleanup\[\d+\]: \w+: message-id=/g) ?? []).length;
  } catch {
    return 0;
  }
};
const mb = (kb: number) => round(kb / 1024, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stops: (() => void)[] = [];
try {
  step('PKI (openssl), SoftHSM2 token with the gateway key, the gateway service, a private Postfix instance');
  const { siteCa, clientCa, postfixServer, clientTls } = pki();
  const appliance = await prepareGateway(siteCa, clientCa);
  const gateway = await startGatewayService(appliance);
  stops.push(gateway.stop);
  const postfix = startPostfix(postfixServer.keyPath, postfixServer.certPath, clientCa.certPath);
  stops.push(postfix.stop);
  for (const port of Object.values(ports)) await waitForPort(port);
  const postfixMaster = Number(readFileSync(join(postfix.dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
  const postfixMemory = () => {
    const pids = processTree(postfixMaster);
    return { processes: pids.length, rssKb: pids.reduce((sum, p) => sum + rssKb(p), 0), pssKb: pids.reduce((sum, p) => sum + pssKb(p), 0) };
  };

  // 1. Memory under concurrent sessions, first, while neither server has served anything.
  step(`${sessionCount} concurrent sessions (half mid-DATA with 64 KB sent) held open against the gateway, then Postfix`);
  const holdAndSample = async (port: number, sample: () => number) => {
    const held = await holdSessions(port, sessionCount, 64 * 1024);
    await sleep(1000);
    let peak = 0;
    for (let i = 0; i < 10; i++) {
      peak = Math.max(peak, sample());
      await sleep(100);
    }
    held.close();
    await sleep(1000);
    return peak;
  };
  const gatewayIdleKb = rssKb(gateway.pid);
  const gatewaySessionsKb = await holdAndSample(ports.gatewayPlain, () => rssKb(gateway.pid));
  const postfixIdle = postfixMemory();
  let postfixDuring = postfixIdle;
  await holdAndSample(ports.postfixPlain, () => {
    const now = postfixMemory();
    if (now.pssKb > postfixDuring.pssKb) postfixDuring = now;
    return now.pssKb;
  });

  // 2. Plain SMTP with smtp-source, and 3. STARTTLS with a client certificate, alternating runs.
  const small = messageOfSize(messageBytes);
  step('warm-up: a few messages to each server, plain and STARTTLS');
  await smtpSource(ports.gatewayPlain, 100);
  await smtpSource(ports.postfixPlain, 100);
  await sendLoad(ports.gatewayTls, 4, 5, small, { tls: clientTls });
  await sendLoad(ports.postfixTls, 4, 5, small, { tls: clientTls });
  const plain = { gateway: [] as number[], postfix: [] as number[] };
  const tls = { gateway: [] as number[], postfix: [] as number[] };
  const spoolBefore = gatewaySpoolCount();
  await sleep(500);
  const postfixBefore = postfixAccepted(postfix.dir);
  const tlsRounds = Math.max(1, Math.round(tlsMessages / (parallel * perTlsConnection)));
  for (let run = 1; run <= runs; run++) {
    step(`run ${run}/${runs}: smtp-source -s ${parallel} -d -m ${plainMessages} -l ${messageBytes}, gateway then Postfix`);
    plain.gateway.push((await smtpSource(ports.gatewayPlain, plainMessages)).perSecond);
    plain.postfix.push((await smtpSource(ports.postfixPlain, plainMessages)).perSecond);
    step(`run ${run}/${runs}: STARTTLS + client certificate, ${parallel} workers x ${tlsRounds} connections x ${perTlsConnection} messages, gateway then Postfix`);
    tls.gateway.push((await sendLoad(ports.gatewayTls, parallel, perTlsConnection, small, { tls: clientTls, connectionsPerWorker: tlsRounds })).perSecond);
    tls.postfix.push((await sendLoad(ports.postfixTls, parallel, perTlsConnection, small, { tls: clientTls, connectionsPerWorker: tlsRounds })).perSecond);
  }
  const sentEach = runs * (plainMessages + parallel * tlsRounds * perTlsConnection);
  await sleep(2000); // postlogd writes the log a moment later
  const durable = { sentToEach: sentEach, gatewaySpooled: gatewaySpoolCount() - spoolBefore, postfixQueued: postfixAccepted(postfix.dir) - postfixBefore };

  // 4. Large messages: RSS growth of the gateway.
  const bigPerConnection = Number(values.big);
  step(`${parallel} connections x ${bigPerConnection} messages of 2 MB to the gateway, sampling its RSS`);
  const baseline = rssKb(gateway.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKb(gateway.pid));
  }, 50);
  const big = await sendLoad(ports.gatewayPlain, parallel, bigPerConnection, messageOfSize(2 * 1024 * 1024));
  clearInterval(sampler);

  const plainOurs = median(plain.gateway);
  const plainPeer = median(plain.postfix);
  const tlsOurs = median(tls.gateway);
  const tlsPeer = median(tls.postfix);
  // Each run measures the gateway then Postfix back to back: the ratio is the median of the
  // runs' ratios, so that a burst of load from other jobs falls on both sides of one ratio.
  const runRatios = (side: { gateway: number[]; postfix: number[] }) => side.gateway.map((g, i) => g / side.postfix[i]!);
  const plainRatio = median(runRatios(plain));
  const tlsRatio = median(runRatios(tls));
  const runsNote = (side: { gateway: number[]; postfix: number[] }) =>
    `median of ${runs} back-to-back runs' ratios (${runRatios(side)
      .map((r) => r.toFixed(2))
      .join(', ')})`;
  const details = {
    parallelSessions: parallel,
    messageBytes,
    runs,
    plain: {
      tool: 'smtp-source (postfix package)',
      messagesPerRun: plainMessages,
      gatewayPerSecond: plain.gateway.map((x) => round(x, 0)),
      postfixPerSecond: plain.postfix.map((x) => round(x, 0)),
    },
    starttlsClientCertificate: {
      tool: 'bench/smtp-load.ts (node:tls, no session resumption)',
      messagesPerRun: parallel * tlsRounds * perTlsConnection,
      messagesPerConnection: perTlsConnection,
      gatewayKey: 'EC P-256 in SoftHSM2',
      postfixKey: 'EC P-256 PEM file',
      gatewayPerSecond: tls.gateway.map((x) => round(x, 0)),
      postfixPerSecond: tls.postfix.map((x) => round(x, 0)),
    },
    durable,
    concurrentSessions: {
      sessions: sessionCount,
      midData: Math.floor(sessionCount / 2),
      gatewayIdleRssMb: mb(gatewayIdleKb),
      gatewayRssMb: mb(gatewaySessionsKb),
      postfixIdle: { processes: postfixIdle.processes, rssMb: mb(postfixIdle.rssKb), pssMb: mb(postfixIdle.pssKb) },
      postfixDuring: { processes: postfixDuring.processes, rssMb: mb(postfixDuring.rssKb), pssMb: mb(postfixDuring.pssKb) },
    },
    twoMegabyteMessages: { messages: big.messages, seconds: round(big.seconds, 1), rssBaselineMb: mb(baseline), rssPeakMb: mb(peak), rssGrowthMb: mb(peak - baseline) },
  };
  const result = writeResult(
    'gateway',
    [
      {
        name: `SMTP plain, ${messageBytes / 1024} KB messages accepted and fsynced, ${parallel} sessions (smtp-source)`,
        short: 'SMTP plain',
        unit: 'msg/s',
        ours: round(plainOurs, 0),
        peer: round(plainPeer, 0),
        peerName: 'Postfix',
        ratio: round(plainRatio),
        target: '>= 1.0',
        met: plainRatio >= 1,
        note: runsNote(plain),
        higherIsBetter: true,
      },
      {
        name: `SMTP STARTTLS + client certificate, ${perTlsConnection} messages per connection, ${parallel} in parallel`,
        short: 'SMTP STARTTLS+cert',
        unit: 'msg/s',
        ours: round(tlsOurs, 0),
        peer: round(tlsPeer, 0),
        peerName: 'Postfix (PEM key, smtpd_tls_req_ccert)',
        ratio: round(tlsRatio),
        target: '>= 1.0',
        met: tlsRatio >= 1,
        higherIsBetter: true,
        note: `gateway key in SoftHSM2; ${runsNote(tls)}`,
      },
      {
        name: `memory with ${sessionCount} concurrent SMTP sessions (half mid-DATA)`,
        short: `RSS ${sessionCount} sessions`,
        unit: 'MB',
        ours: mb(gatewaySessionsKb),
        peer: mb(postfixDuring.pssKb),
        peerName: `Postfix, ${postfixDuring.processes} processes (PSS)`,
        ratio: round(gatewaySessionsKb / postfixDuring.pssKb),
        target: '',
        higherIsBetter: false,
        note: `gateway RSS, ${mb(gatewayIdleKb)} MB idle; Postfix RSS sum ${mb(postfixDuring.rssKb)} MB`,
      },
      {
        name: `${big.messages} messages of 2 MB over ${parallel} connections: gateway RSS growth`,
        short: '2 MB msgs RSS',
        unit: 'MB',
        ours: mb(peak - baseline),
        target: '< 50 MB',
        met: peak - baseline < 50 * 1024,
        higherIsBetter: false,
      },
    ],
    details,
  );
  console.log(JSON.stringify(result, null, 2));
  if (durable.gatewaySpooled !== sentEach) throw new Error(`the gateway spooled ${durable.gatewaySpooled} of ${sentEach} messages`);
} finally {
  for (const stop of stops.reverse()) {
    try {
      stop();
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
