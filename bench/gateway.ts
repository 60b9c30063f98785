// bench/gateway: the SMTP gateway side by side with Postfix, in one run.
//   1. small messages, 20 parallel connections, against the gateway service and a
//      Postfix instance on loopback (both fsync their queue): messages/s and the ratio;
//   2. 20 parallel connections sending 2 MB messages to the gateway: RSS growth.
// Usage (as root, after `npm run build`): node bench/gateway.ts
// Postfix comes from Debian's package; the benchmark sets up its own instance in a
// temporary folder (the only change outside it: /etc/postfix/main.cf allows that folder).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { messageOfSize, sendLoad } from './smtp-load.ts';

const root = resolve(import.meta.dirname, '..');
const connections = 20;
const work = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
const gatewayPort = 2625;
const postfixPort = 2626;

function step(text: string): void {
  process.stderr.write(`==> ${text}\n`);
}

async function startGateway(): Promise<{ pid: number; stop: () => void }> {
  const { ConfigStore } = await import(join(root, 'dist/os/config/store.js'));
  const { factoryConfig } = await import(join(root, 'dist/os/config/factory.js'));
  const store = new ConfigStore(join(work, 'gateway', 'config'));
  await store.initialise({
    ...factoryConfig('bench.localdomain'),
    listeners: [
      {
        name: 'Bench',
        address: '127.0.0.1',
        port: gatewayPort,
        hostname: 'bench.localdomain',
        type: 'private',
        maxConnections: 100,
        acceptedDomains: ['example.com'],
        defaultPolicy: 'DEFAULT',
        policies: [
          { name: 'DEFAULT', connection: 'relay', maxMessageBytes: 20_000_000, maxRecipientsPerMessage: 100, maxMessagesPerConnection: 100_000, tls: 'off', smtpAuth: 'off' },
        ],
      },
    ],
  });
  const child = spawn(process.execPath, [join(root, 'dist/mail/gateway-service.js')], {
    env: { ...process.env, APPLIANCE_STATE_DIR: join(work, 'gateway'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolveReady, reject) => {
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before it was ready`)));
    const deadline = setTimeout(() => reject(new Error('the gateway did not start within 30 s')), 30_000);
    const poll = setInterval(() => {
      if (existsSync(join(work, 'gateway', 'run', 'gateway.pid'))) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolveReady();
      }
    }, 100);
  });
  createInterface({ input: child.stdout! }).on('line', () => {});
  return { pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

function startPostfix(): () => void {
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
`,
  );
  const master = readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((line) => {
      const fields = line.split(/\s+/);
      if (!/^[a-z0-9.:]+$/.test(fields[0] ?? '') || fields.length < 8) return line;
      if (fields[0] === 'smtp' && fields[1] === 'inet') fields[0] = `127.0.0.1:${postfixPort}`;
      if (fields[4] === 'y') fields[4] = 'n'; // no chroot: the queue is in a temporary folder
      return fields.join(' ');
    })
    .join('\n');
  writeFileSync(join(dir, 'conf', 'master.cf'), master);
  const defaults = existsSync('/etc/postfix/main.cf') ? readFileSync('/etc/postfix/main.cf', 'utf8') : '';
  if (!defaults.includes(`${dir}/conf`)) {
    writeFileSync('/etc/postfix/main.cf', `${defaults.replace(/^alternate_config_directories.*$/m, '')}\nalternate_config_directories = ${dir}/conf\n`);
  }
  execFileSync('postfix', ['-c', join(dir, 'conf'), 'start'], { stdio: 'inherit' });
  return () => execFileSync('postfix', ['-c', join(dir, 'conf'), 'stop'], { stdio: 'inherit' });
}

async function waitForPort(port: number): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 100; i++) {
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

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

const stops: (() => void)[] = [];
try {
  step('starting the gateway service and Postfix');
  const gateway = await startGateway();
  stops.push(gateway.stop);
  stops.push(startPostfix());
  await waitForPort(gatewayPort);
  await waitForPort(postfixPort);

  const small = messageOfSize(2 * 1024);
  const perConnection = 50;
  step(`warm-up, then ${connections} connections x ${perConnection} small messages each, gateway then Postfix`);
  await sendLoad(gatewayPort, 4, 10, small);
  await sendLoad(postfixPort, 4, 10, small);
  const ours = await sendLoad(gatewayPort, connections, perConnection, small);
  const peer = await sendLoad(postfixPort, connections, perConnection, small);

  step(`${connections} connections x 3 messages of 2 MB to the gateway, sampling its RSS`);
  const baseline = rssKb(gateway.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKb(gateway.pid));
  }, 50);
  const big = await sendLoad(gatewayPort, connections, 3, messageOfSize(2 * 1024 * 1024));
  clearInterval(sampler);

  const result = {
    smallMessages: {
      gatewayPerSecond: Math.round(ours.perSecond),
      postfixPerSecond: Math.round(peer.perSecond),
      ratio: Number((ours.perSecond / peer.perSecond).toFixed(2)),
      goal: '>= 1.0',
    },
    twoMegabyteMessages: {
      messages: big.messages,
      seconds: Number(big.seconds.toFixed(1)),
      rssBaselineMb: Number((baseline / 1024).toFixed(1)),
      rssPeakMb: Number((peak / 1024).toFixed(1)),
      rssGrowthMb: Number(((peak - baseline) / 1024).toFixed(1)),
      goal: '< 50 MB growth',
    },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const stop of stops.reverse()) {
    try {
      stop();
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 500));
  rmSync(work, { recursive: true, force: true });
}
