// A running gateway for integration tests: a real SoftHSM2 token holding the
// listener's key, a client PKI made with the openssl CLI, and swaks, openssl
// s_client and raw sockets as clients.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Test } from 'tap';
import { tlsOptionsFor } from '../../src/hsm/tls-options.js';
import type { RevocationPolicy } from '../../src/mail/client-certificate.js';
import { Gateway } from '../../src/mail/gateway.js';
import { IdCounter } from '../../src/mail/id-counter.js';
import type { SmtpAuthenticator } from '../../src/mail/smtp-auth.js';
import { Spool } from '../../src/mail/spool.js';
import type { ApplianceConfig, ApplianceConfigInput, Listener } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { initialisedToken, openHsm, testCa } from './softhsm.js';
import { TestCa } from './test-ca.js';

export const listenerCertificate = 'gateway-tls';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** One token and PKI per test file (the OpenSSL engine keeps its module for the process). */
export async function gatewayFixture(t: Test) {
  const token = await initialisedToken(t);
  const hsm = openHsm(t, token);
  await hsm.keys.generate({ label: listenerCertificate, algorithm: 'ec-p256' });
  const serverCa = testCa(token, 'Gateway Server CA');
  await hsm.certificates.import(
    listenerCertificate,
    serverCa.sign(await hsm.certificates.csr(listenerCertificate, { subject: { commonName: 'mail.example.com' } })) + serverCa.pem,
  );
  const pki = join(token.root, 'pki');
  mkdirSync(pki, { recursive: true });
  const clientCa = new TestCa({ dir: join(pki, 'client-ca'), commonName: 'Client Root CA' });
  const rogueCa = new TestCa({ dir: join(pki, 'rogue-ca'), commonName: 'Rogue CA' });
  const diginotar = new TestCa({ dir: join(pki, 'diginotar'), commonName: 'DigiNotar Root CA', organization: 'DigiNotar B.V.' });
  return { token, hsm, serverCa, clientCa, rogueCa, diginotar };
}

export type GatewayFixture = Awaited<ReturnType<typeof gatewayFixture>>;

type PolicyInput = Partial<Listener['policies'][number]> & { name: string };

const defaultPolicy: PolicyInput = {
  name: 'DEFAULT',
  connection: 'accept',
  maxMessageBytes: 100_000,
  maxRecipientsPerMessage: 5,
  maxMessagesPerConnection: 3,
  tls: 'preferred',
  smtpAuth: 'off',
};

export function listenerConfig(port: number, overrides: Partial<Omit<Listener, 'policies'>> & { policies?: PolicyInput[] } = {}): ApplianceConfigInput['listeners'] {
  return [
    {
      name: 'OutgoingMail',
      address: '127.0.0.1',
      port,
      hostname: 'mail.example.com',
      type: 'private',
      certificate: listenerCertificate,
      acceptedDomains: ['example.com'],
      defaultPolicy: 'DEFAULT',
      policies: [defaultPolicy],
      hostAccessTable: [],
      ...overrides,
    } as Listener,
  ];
}

/** A listener where 127.0.0.1 gets the RELAYED policy (relaying with `smtpAuthProfile`, authentication required) and everyone else DEFAULT. */
export function relayingListener(port: number, smtpAuthProfile: string, relayed: Omit<PolicyInput, 'name'>): ApplianceConfigInput['listeners'] {
  return listenerConfig(port, {
    smtpAuthProfile,
    policies: [defaultPolicy, { name: 'RELAYED', connection: 'relay', smtpAuth: 'required', ...relayed }],
    hostAccessTable: [{ name: 'RELAYLIST', entries: ['127.0.0.1'], policy: 'RELAYED' }],
  });
}

export async function startGateway(
  t: Test,
  fixture: GatewayFixture,
  configInput: Partial<ApplianceConfigInput>,
  revocation?: RevocationPolicy,
  /** SMTP session authentication, made from the parsed configuration. */
  authenticator?: (config: ApplianceConfig) => SmtpAuthenticator,
) {
  const { token, hsm } = fixture;
  const config: ApplianceConfig = parseConfig({ ...token.runtime.config, system: { ...token.runtime.config.system, hostname: 'mail.example.com' }, ...configInput });
  const spool = new Spool(join(token.root, 'spool'));
  const gateway = new Gateway({
    logs: token.runtime.logs,
    logger: token.runtime.logger,
    spool,
    icids: new IdCounter(join(token.root, 'spool', 'next-icid')),
    mids: new IdCounter(join(token.root, 'spool', 'next-mid')),
    tlsMaterial: (label) => tlsOptionsFor(hsm.certificates, label, { tokenLabel: token.hsm.tokenLabel, pinFile: token.files.userPin }),
    revocation: () => revocation ?? { checker: undefined, whenUnknown: config.crl.whenIssuerHasNoCrl },
    alerts: token.runtime.alerts,
    ...(authenticator ? { authenticator: authenticator(config) } : {}),
  });
  await gateway.apply(config);
  t.teardown(() => gateway.close());
  return {
    gateway,
    config,
    spool,
    mailLog: () => readFileSync(join(token.root, 'logs', 'mail_logs', 'mail_logs.current'), 'utf8'),
  };
}

export interface ClientResult {
  code: number | null;
  output: string;
}

export function run(command: string, args: string[], input?: string): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

export interface SwaksOptions {
  port: number;
  from?: string;
  to?: string;
  tls?: 'none' | 'starttls';
  cert?: { certPath: string; keyPath: string };
  body?: string;
  extra?: string[];
}

/** swaks, the SMTP swiss army knife, as the mail client. */
export function swaks(options: SwaksOptions): Promise<ClientResult> {
  return run('swaks', [
    '--server',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--from',
    options.from ?? 'john.doe@example.com',
    '--to',
    options.to ?? 'jane.roe@example.com',
    '--ehlo',
    'client.example.com',
    '--timeout',
    '20',
    ...(options.tls === 'starttls' ? ['--tls'] : []),
    ...(options.cert ? ['--tls-cert', options.cert.certPath, '--tls-key', options.cert.keyPath] : []),
    ...(options.body !== undefined ? ['--body', options.body] : []),
    ...(options.extra ?? []),
  ]);
}

/** A raw SMTP client on a socket, for what the command-line clients cannot do (pipelining around STARTTLS). */
export class RawSmtp {
  private buffer = '';
  private waiting: (() => void) | undefined;
  private socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  static async connect(port: number): Promise<RawSmtp> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawSmtp(socket);
  }

  /** The next complete reply (all lines of a multi-line one). */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = /^\d{3} .*\r\n/m.exec(this.buffer);
      if (end) {
        const upTo = end.index + end[0].length;
        const reply = this.buffer.slice(0, upTo);
        this.buffer = this.buffer.slice(upTo);
        return reply.trimEnd();
      }
      if (Date.now() > deadline) throw new Error(`no reply; have ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  write(raw: string): void {
    this.socket.write(raw);
  }

  async startTls(options: { cert?: string; key?: string } = {}): Promise<TLSSocket> {
    const secure = tlsConnect({ socket: this.socket, rejectUnauthorized: false, servername: 'mail.example.com', ...options });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.buffer = '';
    this.socket = secure;
    this.listen(secure);
    return secure;
  }

  close(): void {
    this.socket.destroy();
  }

  private listen(socket: Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.waiting?.();
    });
    socket.on('error', () => {});
  }
}
