// Image smoke test: boots image/out under QEMU (TCG), waits on conditions (never fixed
// sleeps), logs in on the serial console (forced change of the factory password), runs
// a FIPS management flow there (the factory Officer password changed, a key and CSR made
// in the HSM, signed by a test CA, pasted back, assigned to the listener with client
// certificates required), sends a message with a client certificate through the
// forwarded SMTP port and checks the handshake used the imported certificate, checks the
// SSH host key is the HSM's and audits sshd (ssh-audit), reboots, checks what must
// persist, powers off. Run by scripts/test-image, which scripts/test runs after tap.
//
//   node test/image/smoke.ts ARTEFACT_DIR
//
// The serial console ttyS0 is the product's (getty, admin login, console). A second
// serial port, ttyS1, carries systemd's debug shell (systemd.debug_shell=ttyS1 on the
// kernel command line of this test only): the root shell the checks run through.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const out = join(repo, 'image/out');
const artefacts = resolve(process.argv[2] ?? join(out, 'smoke', new Date().toISOString().replace(/[:.]/g, '-')));
mkdirSync(artefacts, { recursive: true });
const stepLog = createWriteStream(join(artefacts, 'steps.log'));
const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1);
const figures: Record<string, number | string> = {};
let failures = 0;
let checks = 0;

function note(text: string): void {
  const line = `[${elapsed()}s] ${text}`;
  console.log(line);
  stepLog.write(`${line}\n`);
}
function check(ok: boolean, what: string, detail = ''): void {
  checks++;
  if (!ok) failures++;
  note(`${ok ? 'ok' : 'NOT OK'} ${checks} - ${what}${detail ? ` (${detail})` : ''}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
const ansi = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r/g;

/** A serial port of the guest through a unix socket: everything it prints is logged; waits are on patterns. */
class SerialPort {
  private buffer = '';
  private consumed = 0;
  private socket: Socket | undefined;
  private readonly log;
  private readonly decoder = new TextDecoder();
  private waiters: (() => void)[] = [];

  readonly path: string;

  constructor(path: string, logFile: string) {
    this.path = path;
    this.log = createWriteStream(logFile);
  }

  async connect(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.socket = await new Promise<Socket>((ok, fail) => {
          const s = connect(this.path, () => ok(s));
          s.once('error', fail);
        });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 200)); // polling for QEMU's socket to appear
      }
    }
    this.socket.on('data', (data: Buffer) => {
      this.log.write(data);
      this.buffer += this.decoder.decode(data, { stream: true }).replace(ansi, '');
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => {});
  }

  send(text: string): void {
    this.socket?.write(text);
  }

  /** Waits until the output after the last match contains `pattern`; returns the match and consumes up to it. */
  async waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.buffer.slice(this.consumed);
      const m = rest.match(pattern);
      if (m && m.index !== undefined) {
        this.consumed += m.index + m[0].length;
        return m;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} (${pattern}) on ${this.path}; last output: ${JSON.stringify(rest.slice(-400))}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  close(): void {
    this.socket?.destroy();
    this.log.end();
  }
}

/** The root shell on ttyS1: runs one command, returns its output and exit status. */
class RootShell {
  private n = 0;
  private readonly port: SerialPort;

  constructor(port: SerialPort) {
    this.port = port;
  }

  async ready(timeoutMs: number): Promise<void> {
    // The debug shell starts early; a marker echoed back proves it reads commands.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.port.send("printf '%s_%s\\n' __SHELL UP\n");
      try {
        await this.port.waitFor(/__SHELL_UP/, 5000, 'the debug shell');
        this.port.send('stty -echo 2>/dev/null; export SYSTEMD_PAGER= SYSTEMD_COLORS=0 TERM=dumb PS1="# "\n');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  }

  async run(command: string, timeoutMs = 60_000): Promise<{ status: number; output: string }> {
    const n = ++this.n;
    this.port.send(`printf '%s_%s\\n' __BEGIN ${n}; ${command}; printf '%s_%s %s\\n' __END ${n} $?\n`);
    await this.port.waitFor(new RegExp(`__BEGIN_${n}\\n`), timeoutMs, `start of command ${n}`);
    const m = await this.port.waitFor(new RegExp(`([\\s\\S]*?)__END_${n} (\\d+)\\n`), timeoutMs, `command ${n}: ${command}`);
    return { status: Number(m[2]), output: (m[1] ?? '').trim() };
  }
}

async function sh(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ ok: boolean; output: string }> {
  try {
    const r = await run(command, args, { env: { ...process.env, ...env }, timeout: 180_000, maxBuffer: 16 << 20 });
    return { ok: true, output: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

const smtpPort = Number(process.env.SMOKE_SMTP_PORT ?? 20025 + (process.pid % 1000));
const sshPort = smtpPort + 1000;
const disk = join(artefacts, 'disk.qcow2');
const factoryPassword = 'admin-factory';
const newPassword = `Smoke-${Date.now().toString(36)}-pw`;
const factoryOfficerPassword = 'Factory-Officer-1'; // image/README.md
const newOfficerPassword = `Officer-${Date.now().toString(36)}-9`;
let qemu: ChildProcess | undefined;
let qemuExited: Promise<number | null> = Promise.resolve(null);

function boot(label: string): { console: SerialPort; port1: SerialPort; shell: RootShell } {
  const console0 = new SerialPort(join(artefacts, `${label}-s0.sock`), join(artefacts, `serial-ttyS0-${label}.log`));
  const port1 = new SerialPort(join(artefacts, `${label}-s1.sock`), join(artefacts, `serial-ttyS1-${label}.log`));
  const args = [
    '--disk',
    disk,
    '--smtp-port',
    String(smtpPort),
    '--ssh-port',
    String(sshPort),
    '--serial',
    `unix:${console0.path},server=on,wait=on`,
    '--append',
    'systemd.debug_shell=ttyS1',
    '--',
    '-serial',
    `unix:${port1.path},server=on,wait=off`,
    '-no-reboot',
  ];
  note(`boot (${label}): scripts/run-qemu ${args.join(' ')}`);
  qemu = spawn(join(repo, 'scripts/run-qemu'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const qemuLog = createWriteStream(join(artefacts, `qemu-${label}.log`));
  qemu.stdout?.pipe(qemuLog);
  qemu.stderr?.pipe(qemuLog);
  const child = qemu;
  qemuExited = new Promise((r) => child.once('exit', (code) => r(code)));
  return { console: console0, port1, shell: new RootShell(port1) };
}

async function waitUntilRunning(shell: RootShell, label: string, bootStart: number): Promise<void> {
  await shell.ready(600_000);
  const state = await shell.run('systemctl is-system-running --wait', 900_000);
  figures[`${label}_host_seconds_to_boot_finished`] = Number(((Date.now() - bootStart) / 1000).toFixed(1));
  check(state.output.endsWith('running'), `${label}: systemctl is-system-running says running`, state.output.split('\n').pop());
  if (!state.output.endsWith('running')) {
    note((await shell.run('systemctl --failed --no-legend; journalctl -b -p warning --no-pager | tail -n 60')).output);
  }
  const gw = await shell.run('systemctl show -p ActiveState -p SubState -p StatusText -p NRestarts -p ActiveEnterTimestampMonotonic appliance-gateway');
  const props = Object.fromEntries(gw.output.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  // Type=notify: "active" is reached only once the service has sent READY=1.
  check(props.ActiveState === 'active' && props.SubState === 'running', `${label}: gateway sent READY (active/running)`, props.StatusText);
  check(/HSM ready/.test(props.StatusText ?? ''), `${label}: gateway status says the HSM is ready`);
  check(props.NRestarts === '0', `${label}: gateway never restarted`, `NRestarts=${props.NRestarts}`);
  const analyze = await shell.run('systemd-analyze; systemd-analyze blame | head -n 25; systemd-analyze critical-chain appliance-gateway.service');
  writeFileSync(join(artefacts, `systemd-analyze-${label}.txt`), analyze.output);
  const readyUs = Number(props.ActiveEnterTimestampMonotonic);
  figures[`${label}_guest_seconds_to_gateway_ready`] = Number((readyUs / 1e6).toFixed(1));
  note(`${label}: gateway READY at ${(readyUs / 1e6).toFixed(1)} s of guest uptime; ${((Date.now() - bootStart) / 1000).toFixed(1)} s of host time since QEMU started`);
  for (const unit of [
    'appliance-system',
    'appliance-delivery',
    'appliance-reboot.path',
    'appliance-upgrade.path',
    'appliance-network.path',
    'appliance-ssh-agent',
    'ssh',
    'systemd-networkd',
    'serial-getty@ttyS0',
  ]) {
    const r = await shell.run(`systemctl is-active ${unit}`);
    check(r.output === 'active', `${label}: ${unit} is active`, r.output);
  }
}

async function serialLogin(console0: SerialPort, password: string, firstTime: boolean): Promise<void> {
  console0.send('\n');
  await console0.waitFor(/login: $/m, 300_000, 'the serial login prompt');
  console0.send('admin\n');
  await console0.waitFor(/Password: ?$/m, 60_000, 'the password prompt');
  console0.send(`${password}\n`);
  if (firstTime) {
    await console0.waitFor(/You are required to change your password immediately/, 60_000, 'the forced password change');
    await console0.waitFor(/Current password: ?$/m, 30_000, 'current password prompt');
    console0.send(`${password}\n`);
    await console0.waitFor(/New password: ?$/m, 30_000, 'new password prompt');
    console0.send(`${newPassword}\n`);
    await console0.waitFor(/Retype new password: ?$/m, 30_000, 'retype prompt');
    console0.send(`${newPassword}\n`);
  }
  await console0.waitFor(/appliance console\. Type "help" for commands\.\n/, 120_000, 'the console banner');
  await console0.waitFor(/> $/m, 60_000, 'the console prompt');
}

async function consoleCommand(console0: SerialPort, command: string): Promise<string> {
  console0.send(`${command}\n`);
  const m = await console0.waitFor(/([\s\S]*?)\n[^\n]*> $/m, 120_000, `console command ${command}`);
  return m[1] ?? '';
}

async function sshConsole(command: string, password: string): Promise<{ ok: boolean; output: string }> {
  const askpass = join(artefacts, 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\necho '${password}'\n`, { mode: 0o700 });
  return sh(
    'ssh',
    [
      '-p',
      String(sshPort),
      '-o',
      `UserKnownHostsFile=${join(artefacts, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      'PreferredAuthentications=password,keyboard-interactive',
      '-o',
      'PubkeyAuthentication=no',
      '-o',
      'ConnectTimeout=60',
      'admin@127.0.0.1',
      command,
    ],
    { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: 'none' },
  );
}

async function guestFacts(shell: RootShell, certificateLabel: string): Promise<Record<string, string>> {
  const asAppliance = 'runuser -u appliance -- env SOFTHSM2_CONF=/var/lib/appliance/hsm/softhsm2.conf';
  const facts: Record<string, string> = {};
  facts.tlsCert = (
    await shell.run(
      `${asAppliance} pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label appliance --read-object --type cert --label ${certificateLabel} 2>/dev/null | openssl x509 -inform DER -noout -fingerprint -sha256`,
    )
  ).output;
  facts.hsmObjects = (
    await shell.run(`${asAppliance} pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label appliance --list-objects 2>/dev/null | grep -c 'Object;'`)
  ).output;
  facts.hostKey = (await shell.run('ssh-keygen -l -f /var/lib/appliance/ssh/ssh_host_rsa_key.pub')).output;
  // The messages themselves, wherever the queue has moved them (incoming, active, deferred): their status files change with each attempt.
  facts.spool = (await shell.run('find /var/lib/appliance/spool -type f -name "*.msg" | xargs -r sha256sum | sed "s| .*/| |" | sort')).output;
  facts.revision = (await shell.run('ls /var/lib/appliance/config/revisions | sort -n | tail -1')).output;
  facts.adminShadow = (await shell.run('getent shadow admin | cut -d: -f3')).output;
  facts.listener = (await shell.run('ss -ltnH sport = :25')).output;
  return facts;
}

/** The site's CA, made with the openssl CLI on the host: it signs the appliance's CSR and the sender's client certificate. */
function testCa(): { dir: string; cert: string; clientCert: string; clientKey: string; sign(csrPem: string): string } {
  const dir = join(artefacts, 'ca');
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'ca.pem');
  const key = join(dir, 'ca.key');
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=Smoke Test CA', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = (csr: string, out: string, extensions: string) => {
    writeFileSync(join(dir, 'ext.cnf'), `${extensions}\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-CAcreateserial', '-days', '10', '-extfile', 'ext.cnf', '-out', out]);
    return readFileSync(out, 'utf8');
  };
  const clientKey = join(dir, 'client.key');
  const clientCert = join(dir, 'client.pem');
  openssl(['req', '-new', ...ec, '-keyout', clientKey, '-out', 'client.csr', '-subj', '/CN=Smoke Sender/emailAddress=sender@example.org']);
  issue('client.csr', clientCert, 'extendedKeyUsage=clientAuth\nsubjectAltName=email:sender@example.org');
  return {
    dir,
    cert,
    clientCert,
    clientKey,
    sign(csrPem) {
      writeFileSync(join(dir, 'server.csr'), csrPem);
      return issue('server.csr', join(dir, 'server.pem'), 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:mail.example.com');
    },
  };
}

/** Answers a prompt of the console once it is shown. */
async function answer(console0: SerialPort, prompt: RegExp, text: string, what: string): Promise<void> {
  await console0.waitFor(prompt, 120_000, what);
  console0.send(`${text}\n`);
}

/** Pastes PEM text at the console's paste prompt, line by line, ended by "."; returns what the command printed then. */
async function paste(console0: SerialPort, command: string, pem: string): Promise<string> {
  console0.send(`${command}\n`);
  await console0.waitFor(/Paste [^\n]* in PEM format, then a line holding only "\."/, 120_000, `the paste prompt of ${command}`);
  for (const line of [...pem.trim().split('\n'), '.']) await answer(console0, /> $/m, line, 'the paste continuation prompt');
  const m = await console0.waitFor(/([\s\S]*?)\n[^\n]*> $/m, 120_000, `the end of ${command}`);
  return m[1] ?? '';
}

/**
 * The FIPS Officer's first session: the factory Officer password opens the mode only once a
 * new one is set; a key and CSR made in the HSM; the CA's certificate pasted back; the CA
 * trusted; the listener given the key and told to require client certificates.
 */
async function fipsFlow(console0: SerialPort, ca: ReturnType<typeof testCa>): Promise<{ serverFingerprint: string; revision: number }> {
  console0.send('fipsconfig\n');
  await answer(console0, /FIPS Officer password: $/m, factoryOfficerPassword, 'the FIPS Officer password prompt');
  await console0.waitFor(/still the factory one: set a new one now/, 120_000, 'the forced Officer password change');
  await answer(console0, /New FIPS Officer password: $/m, newOfficerPassword, 'the new Officer password prompt');
  await answer(console0, /Repeat the new password: $/m, newOfficerPassword, 'the repeat prompt');
  await console0.waitFor(/The FIPS Officer password is changed[\s\S]*FIPS management mode\. Every change accepted here is committed at once/, 120_000, 'FIPS management mode');
  await console0.waitFor(/> $/m, 60_000, 'the console prompt');
  check(true, 'FIPS Officer login with the factory password forced a new Officer password, then FIPS management mode opened');
  const keygen = await consoleCommand(console0, 'fipsconfig keygen smoke-tls ec-p256');
  check(/Key pair "smoke-tls" \(ec-p256\) generated in the HSM/.test(keygen), 'FIPS mode: a key generated in the HSM', keygen.trim().split('\n').pop());
  const csrOut = await consoleCommand(console0, 'fipsconfig csr smoke-tls mail.example.com');
  const csr = csrOut.match(/-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/)?.[0]?.replace(/\n+/g, '\n');
  check(csr !== undefined, 'FIPS mode: its CSR printed on the console');
  const signed = ca.sign(`${csr ?? ''}\n`);
  const serverFingerprint = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: signed, encoding: 'utf8' }).trim();
  const imported = await paste(console0, 'fipsconfig import smoke-tls', signed);
  check(
    /Certificate [^\n]*mail\.example\.com[^\n]* imported next to key "smoke-tls"/.test(imported),
    'FIPS mode: the CA-signed certificate pasted and imported',
    imported.match(/Certificate [^\n]*/)?.[0],
  );
  const trusted = await paste(console0, 'certconfig trust new smoke-ca pem=-', readFileSync(ca.cert, 'utf8'));
  check(/Committed as revision \d+/.test(trusted), 'FIPS mode: the test CA trusted (committed at once)', trusted.match(/Committed as revision \d+/)?.[0]);
  const listener = await consoleCommand(console0, 'listenerconfig edit IncomingMail certificate=smoke-tls');
  check(/Committed as revision \d+/.test(listener), 'FIPS mode: the listener uses the imported certificate', listener.match(/Committed as revision \d+/)?.[0]);
  const policy = await consoleCommand(console0, 'listenerconfig policy IncomingMail edit ACCEPTED tls=required verifyClientCertificate=yes');
  const revision = Number(policy.match(/Committed as revision (\d+)/)?.[1] ?? 0);
  check(revision > 0, 'FIPS mode: the policy requires TLS and a valid client certificate', `revision ${revision}`);
  const left = await consoleCommand(console0, 'fipsconfig exit');
  check(/Left FIPS management mode/.test(left), 'FIPS management mode left');
  return { serverFingerprint, revision };
}

/** The last revision a service reloaded, per its journal. */
const lastReloaded = (service: 'gateway' | 'delivery') =>
  `journalctl -u appliance-${service} -o cat --no-pager | grep -o '"revision":[0-9]*,[^}]*${service} reloaded' | tail -n 1 | grep -o '[0-9]*' | head -n 1`;

/** Waits until a service has reloaded the given revision (or a later one): the commit told it to. */
async function waitForServiceRevision(shell: RootShell, service: 'gateway' | 'delivery', revision: number): Promise<number> {
  const result = await shell.run(`for i in $(seq 600); do r=$(${lastReloaded(service)}); [ "\${r:-0}" -ge ${revision} ] && break; sleep 0.5; done; echo "\${r:-none}"`, 360_000);
  check(Number(result.output) >= revision, `the ${service} reloaded revision ${revision}`, `last reloaded ${result.output}`);
  return Number(result.output);
}

async function swaks(label: string, extra: string[]): Promise<{ ok: boolean; output: string }> {
  const result = await sh('swaks', [
    '--server',
    '127.0.0.1',
    '--port',
    String(smtpPort),
    '--from',
    'sender@example.org',
    '--to',
    'user@example.com',
    '--header',
    `Subject: image smoke test (${label})`,
    '--body',
    `sent by test/image/smoke.ts at ${new Date().toISOString()}`,
    '--tls',
    '--timeout',
    '120',
    ...extra,
  ]);
  writeFileSync(join(artefacts, `swaks-${label}.log`), result.output);
  return result;
}

/** ssh-audit (Debian's package) against the forwarded sshd: no failures; the report goes with the artefacts and bench/results. */
async function auditSsh(): Promise<void> {
  const audit = await sh('ssh-audit', ['--no-colors', '--port', String(sshPort), '127.0.0.1']);
  writeFileSync(join(artefacts, 'ssh-audit.txt'), audit.output);
  const failed = audit.output.split('\n').filter((l) => /\(fail\)|\[fail\]|-- \[fail\]/.test(l));
  check(audit.output.includes('# general') && failed.length === 0, "ssh-audit: no failures against the image's sshd", failed.slice(0, 3).join(' | ') || 'clean');
}

/**
 * Two upgrade bundles served to the guest over QEMU's user network (the host is 10.0.2.2
 * there): the image's own (same version: refused) and one repacked from it that installs
 * `${version}.smoke` on this version, signed with the build's key.
 */
async function serveUpgradeBundles(version: string): Promise<{ port: number; nextVersion: string; close(): void }> {
  const built = join(out, `appliance-${version}.upgrade.tar`);
  if (!existsSync(built)) throw new Error(`${built} is missing: run scripts/build-image`);
  const dir = join(artefacts, 'upgrade');
  const payload = join(dir, 'payload');
  mkdirSync(payload, { recursive: true });
  const nextVersion = `${version}.smoke`;
  await run('tar', ['-xf', built, '-C', dir]);
  await run('tar', ['-xpf', join(dir, 'payload.tar'), '-C', payload, '--numeric-owner']);
  writeFileSync(join(payload, 'etc/appliance-version'), `${nextVersion}\n`);
  await run('tar', ['-cf', join(dir, 'payload.tar'), '--numeric-owner', '-C', payload, 'usr/lib/appliance', 'etc/appliance-version']);
  const sha = (await run('sha256sum', [join(dir, 'payload.tar')])).stdout.split(' ')[0];
  writeFileSync(join(dir, 'upgrade.json'), JSON.stringify({ product: 'hsm-mail-gateway', version: nextVersion, upgradeFrom: [version], payloadSha256: sha }));
  // Signed with the key scripts/build-image signed the image's own bundle with (the image trusts its public half).
  const signingKey = process.env.UPGRADE_SIGNING_KEY ?? join(process.env.IMAGE_CACHE ?? '/var/cache/appliance-image', 'upgrade-signing-key.pem');
  await run('openssl', ['pkeyutl', '-sign', '-inkey', signingKey, '-rawin', '-in', join(dir, 'upgrade.json'), '-out', join(dir, 'upgrade.json.sig')]);
  await run('tar', ['-cf', join(dir, 'next.tar'), '-C', dir, 'upgrade.json', 'upgrade.json.sig', 'payload.tar']);
  rmSync(payload, { recursive: true, force: true });
  const files: Record<string, string> = { '/same.tar': built, '/next.tar': join(dir, 'next.tar') };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    note(`HTTP: the guest downloads ${req.url}`);
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = () => {
    server.close();
    rmSync(dir, { recursive: true, force: true }); // two copies of the payload: not worth keeping as artefacts
  };
  return { port: (server.address() as AddressInfo).port, nextVersion, close };
}

async function main(): Promise<void> {
  note(`artefacts in ${artefacts}`);
  for (const f of ['appliance.qcow2', 'vmlinuz', 'initrd.img', 'version']) {
    if (!existsSync(join(out, f))) throw new Error(`image/out/${f} is missing: run scripts/build-image`);
  }
  const version = (await sh('cat', [join(out, 'version')])).output.trim();
  figures.image_version = version;
  // A fresh overlay on the built disk: the build stays pristine, first boot happens here.
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(out, 'appliance.qcow2'), disk]);

  // ---- first boot
  let bootStart = Date.now();
  let { console: console0, port1, shell } = boot('boot1');
  await console0.connect(60_000);
  await port1.connect(60_000);
  await waitUntilRunning(shell, 'boot1', bootStart);
  const firstboot = await shell.run('journalctl -b -u appliance-firstboot --no-pager -o cat');
  writeFileSync(join(artefacts, 'firstboot.log'), firstboot.output);
  check(/SSH host key in the HSM/.test(firstboot.output), 'first boot put the SSH host key in the HSM');
  check(/admin has the factory password/.test(firstboot.output), 'first boot set the factory admin password');
  const security = await shell.run('systemd-analyze security --no-pager appliance-gateway.service | tail -n 1');
  figures.gateway_security = security.output;
  check(/OK|SAFE/.test(security.output), 'systemd-analyze security rates the gateway OK or better', security.output);
  const network = await shell.run(
    'systemctl show -p Result --value appliance-network; cat /etc/systemd/network/10-appliance-Data1.network | grep -c "^Name=en\\* eth\\*$"; networkctl list --no-legend | grep -c routable',
  );
  check(
    network.output.split('\n').join(' ') === 'success 1 1',
    'systemd-networkd runs the interface settings (Data1, DHCP) and the link is routable',
    network.output.replace(/\n/g, ' '),
  );
  const before = await guestFacts(shell, 'default');
  writeFileSync(join(artefacts, 'facts-boot1.json'), JSON.stringify(before, null, 2));
  check(/:25\b/.test(before.listener ?? ''), 'the gateway listens on port 25', before.listener);

  // ---- serial console: factory password must be changed, then the console runs
  await serialLogin(console0, factoryPassword, true);
  check(true, 'serial login with the factory password forced a password change and opened the console');
  const versionOut = await consoleCommand(console0, 'version');
  check(versionOut.includes(`Appliance firmware ${version}`), 'console "version" shows the image version', versionOut.match(/Appliance firmware [^\n]*/)?.[0]);
  check(
    /HSM: softhsm2, token "appliance" initialised/.test(versionOut) && /Self-test: HSM ready/.test(versionOut),
    'and the HSM and its self-test status',
    versionOut.match(/Self-test: [^\n]*/)?.[0],
  );
  const statusOut = await consoleCommand(console0, 'status');
  note(`console status: ${statusOut.trim().replace(/\n/g, ' | ')}`);

  // ---- FIPS management flow on the serial console
  const ca = testCa();
  const fips = await fipsFlow(console0, ca);
  console0.send('exit\n');
  await console0.waitFor(/login: $/m, 120_000, 'the login prompt after exit');
  check(true, 'exit from the console returns to the login prompt');

  // ---- SSH: the host key is the HSM's, the forced command is the console
  const scan = await sh('ssh-keyscan', ['-p', String(sshPort), '-t', 'rsa', '127.0.0.1']);
  const scanned = scan.output.split('\n').find((l) => l.includes('ssh-rsa'));
  const scannedKey = scanned?.split(' ').slice(1, 3).join(' ') ?? '';
  const guestPub = (await shell.run('cat /var/lib/appliance/ssh/ssh_host_rsa_key.pub')).output.split(' ').slice(0, 2).join(' ');
  check(scannedKey !== '' && scannedKey === guestPub, 'sshd presents the host key held in the HSM', scannedKey.slice(0, 40));
  const sshOld = await sshConsole('version', factoryPassword);
  check(!sshOld.ok, 'SSH refuses the old factory password');
  const sshVersion = await sshConsole('version', newPassword);
  writeFileSync(join(artefacts, 'ssh-version.log'), sshVersion.output);
  check(sshVersion.ok, 'SSH login with the new password runs the console command', sshVersion.output.trim().split('\n')[0]);
  const sshShell = await sshConsole('/bin/sh -c id', newPassword);
  writeFileSync(join(artefacts, 'ssh-shell.log'), sshShell.output);
  check(
    !/uid=/.test(sshShell.output) && /unknown command/.test(sshShell.output),
    'SSH gives no shell: the command goes to the console (ForceCommand)',
    sshShell.output.match(/unknown command[^\n]*/)?.[0],
  );
  await auditSsh();

  // ---- a route that cannot be reached (the guest has no network): the message must wait in the queue
  const route = await sshConsole('smtproutes new example.com hosts=127.0.0.1:9:0; commit route for the smoke test', newPassword);
  writeFileSync(join(artefacts, 'ssh-route.log'), route.output);
  const routeRevision = Number(route.output.match(/Committed revision (\d+)/)?.[1] ?? 0);
  check(routeRevision > fips.revision, 'an SMTP route committed over SSH', `revision ${routeRevision}`);
  // A route is the delivery service's: the commit reloads it, and leaves the gateway on the FIPS mode's revision.
  await waitForServiceRevision(shell, 'delivery', routeRevision);
  const gatewayRevision = await waitForServiceRevision(shell, 'gateway', fips.revision);
  check(gatewayRevision < routeRevision, 'the route commit did not reload the gateway (only the services whose sections changed reload)', `gateway on revision ${gatewayRevision}`);

  // ---- SMTP with STARTTLS and a client certificate through the forwarded port
  const withoutCertificate = await swaks('no-cert', []);
  check(
    /<~\*\s+554 5\.7\.1 A valid client certificate is required/.test(withoutCertificate.output),
    'without a client certificate the listener refuses (554 5.7.1)',
    withoutCertificate.output.match(/<~\*\s+5\d\d [^\n]*/)?.[0],
  );
  const peerCert = join(artefacts, 'peer-cert.pem');
  const sent = await swaks('client-cert', ['--tls-cert', ca.clientCert, '--tls-key', ca.clientKey, '--tls-get-peer-cert', peerCert]);
  const queued = sent.output.match(/<[-~] {2}250 .*queued as (\S+)/); // "<~": a reply read through TLS
  check(sent.ok && queued !== null, 'swaks with a client certificate: message accepted over STARTTLS', queued?.[0]);
  const fp = (await sh('openssl', ['x509', '-in', peerCert, '-noout', '-fingerprint', '-sha256'])).output.trim();
  const spooled = await guestFacts(shell, 'smoke-tls');
  check(fp !== '' && fp === fips.serverFingerprint, 'the server presented the certificate signed by the test CA and imported on the console', fp);
  check(fp.toLowerCase() === (spooled.tlsCert ?? '').toLowerCase(), 'which is the certificate the HSM holds next to key "smoke-tls"');
  const verdict = (await shell.run('grep -h "client certificate subject" /var/lib/appliance/logs/mail_logs/*.current | tail -n 1')).output;
  check(
    /subject "[^"]*CN=Smoke Sender[^"]*" issuer "[^"]*CN=Smoke Test CA[^"]*" .*verdict valid/.test(verdict),
    'the gateway verified the client certificate against the pasted CA',
    verdict,
  );
  check(
    (spooled.spool ?? '').split('\n').filter(Boolean).length > (before.spool ?? '').split('\n').filter(Boolean).length,
    'the message is in the spool',
    spooled.spool?.split('\n').pop(),
  );

  // ---- upgrade: the same version is refused; the next one is installed and the appliance reboots
  const bundles = await serveUpgradeBundles(version);
  const same = await sshConsole(`upgrade http://10.0.2.2:${bundles.port}/same.tar now`, newPassword);
  writeFileSync(join(artefacts, 'ssh-upgrade-same.log'), same.output);
  check(/upgrade refused: this appliance already runs/.test(same.output), 'upgrade: a bundle of the running version is refused', same.output.match(/upgrade refused[^\n]*/)?.[0]);
  const upgrade = await sshConsole(`upgrade http://10.0.2.2:${bundles.port}/next.tar now`, newPassword);
  writeFileSync(join(artefacts, 'ssh-upgrade.log'), upgrade.output);
  check(/downloaded \d+ MB of \d+ MB \(100%\)/.test(upgrade.output), 'upgrade: the download shows its progress');
  check(
    /Upgrade to \S+\.smoke staged: the appliance installs it and reboots now/.test(upgrade.output),
    'upgrade: a bundle listing this version as its upgrade path is accepted',
    upgrade.output.match(/Upgrade to [^\n]*/)?.[0],
  );

  // ---- the reboot after the upgrade: configuration, keys, password and queued message survive
  const code = await Promise.race([
    qemuExited, // -no-reboot: QEMU exits when the guest reboots
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error('the guest did not reboot within 15 minutes of staging the upgrade')), 900_000).unref()),
  ]);
  bundles.close();
  note(`QEMU exited (${code}) at the guest's reboot after the upgrade; starting it again on the same disk`);
  console0.close();
  port1.close();
  bootStart = Date.now();
  ({ console: console0, port1, shell } = boot('boot2'));
  await console0.connect(60_000);
  await port1.connect(60_000);
  await waitUntilRunning(shell, 'boot2', bootStart);
  const after = await guestFacts(shell, 'smoke-tls');
  writeFileSync(join(artefacts, 'facts-boot2.json'), JSON.stringify(after, null, 2));
  check(after.revision === spooled.revision, 'the committed configuration survived', `revision ${after.revision}`);
  check(after.tlsCert === spooled.tlsCert && after.hsmObjects === spooled.hsmObjects, 'the HSM keys and certificates survived', `${after.hsmObjects} objects`);
  check(after.hostKey === spooled.hostKey, 'the SSH host key survived');
  check(after.spool === spooled.spool, 'the queued message survived');
  const installed = await shell.run('journalctl -b -1 -u appliance-upgrade -o cat --no-pager; cat /etc/appliance-version; ls -d /usr/lib/appliance.previous');
  writeFileSync(join(artefacts, 'upgrade-boot2.log'), installed.output);
  check(
    installed.output.includes(`installed ${bundles.nextVersion}`) && installed.output.includes('/usr/lib/appliance.previous'),
    'upgrade: apply-upgrade installed it and kept the previous version',
  );
  const upgradedVersion = await sshConsole('version', newPassword);
  check(
    upgradedVersion.output.includes(`Appliance firmware ${bundles.nextVersion}`),
    'upgrade: "version" shows the new version after the reboot',
    upgradedVersion.output.match(/Appliance firmware [^\n]*/)?.[0],
  );
  const firstboot2 = await shell.run('systemctl show -p ConditionResult appliance-firstboot');
  check(firstboot2.output === 'ConditionResult=no', 'first boot did not run again');
  const sshAfter = await sshConsole('version', newPassword);
  check(sshAfter.ok, 'the changed admin password survived (SSH login)');
  await serialLogin(console0, newPassword, false);
  check(true, 'serial login with the changed password');
  console0.send('fipsconfig\n');
  await answer(console0, /FIPS Officer password: $/m, newOfficerPassword, 'the FIPS Officer password prompt');
  const officer = await console0.waitFor(/([\s\S]*?)FIPS management mode\. Every change accepted here/, 120_000, 'FIPS management mode');
  check(!/factory/.test(officer[1] ?? ''), 'the changed FIPS Officer password survived: FIPS mode opens with no factory prompt');
  await console0.waitFor(/> $/m, 60_000, 'the console prompt');
  const certs = await consoleCommand(console0, 'fipsconfig certs');
  check(/smoke-tls {2}[^\n]*mail\.example\.com/.test(certs), 'the imported certificate is listed after the reboot', certs.match(/smoke-tls[^\n]*/)?.[0]);
  console0.send('exit\n');
  await console0.waitFor(/login: $/m, 120_000, 'the login prompt after exit');

  // ---- power off
  shell.run('systemctl poweroff').catch(() => {});
  const offCode = await qemuExited;
  check(offCode === 0, 'the appliance powered off and QEMU exited cleanly', `exit ${offCode}`);
  console0.close();
  port1.close();
}

try {
  await main();
} catch (error) {
  failures++;
  note(`NOT OK - ${(error as Error).message}`);
  qemu?.kill('SIGTERM');
} finally {
  figures.checks = checks;
  figures.failures = failures;
  figures.total_seconds = Number(elapsed());
  writeFileSync(join(artefacts, 'summary.json'), `${JSON.stringify(figures, null, 2)}\n`);
  note(`${checks - Math.min(failures, checks)} of ${checks} checks passed; ${failures} failure(s); artefacts in ${artefacts}`);
  stepLog.end();
}
process.exit(failures === 0 ? 0 : 1);
