// For the delivery tests: a next-hop SMTP server on loopback (a second
// smtp-server, recording what it receives and replying as the test says), a
// queue fed through the real spool writer, and the delivery side running on it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Test } from 'tap';
import { Delivery, type DeliveryDeps } from '../../src/mail/delivery/delivery.js';
import { type Envelope, Spool } from '../../src/mail/spool.js';
import type { ApplianceConfig, ApplianceConfigInput } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { LogSubscriptions } from '../../src/os/logging/subscriptions.js';
import { tempState } from '../helpers/state.js';

export interface Received {
  from: string;
  to: string[];
  data: string;
  secure: boolean;
}

/** What the next hop replies to RCPT TO: undefined accepts, else an SMTP error reply. */
export type RcptPolicy = (address: string) => { code: number; message: string } | undefined;

export class NextHop {
  readonly received: Received[] = [];
  rcpt: RcptPolicy = () => undefined;

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(t: Test, options: { tls?: { key: string; cert: string }; noStartTls?: boolean; noSmtpUtf8?: boolean } = {}): Promise<NextHop> {
    let hop: NextHop | undefined;
    const serverOptions: SMTPServerOptions = {
      authOptional: true,
      disabledCommands: ['AUTH'],
      logger: false,
      hideSTARTTLS: options.noStartTls ?? false,
      hideSMTPUTF8: options.noSmtpUtf8 ?? false,
      ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
      onRcptTo(address, _session, callback) {
        const refusal = hop?.rcpt(address.address);
        if (!refusal) return callback();
        const err = new Error(refusal.message) as Error & { responseCode: number };
        err.responseCode = refusal.code;
        callback(err);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          hop?.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString('utf8'),
            secure: session.secure,
          });
          callback();
        });
      },
    };
    const server = new SMTPServer(serverOptions);
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hop = new NextHop(server, (server.server.address() as { port: number }).port);
    t.teardown(() => hop?.close());
    return hop;
  }

  async waitFor(count: number, timeoutMs = 15_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`the next hop got ${this.received.length} of ${count} messages`);
      await sleep(50);
    }
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A TCP server that accepts and never greets: a next hop that hangs. */
export async function tarpit(t: Test): Promise<{ port: number; open: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, open: () => sockets.size };
}

/** A CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
export function nextHopPki(dir: string, name = 'Next Hop CA') {
  mkdirSync(dir, { recursive: true });
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${name}`]);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n" > ext.cnf'], { cwd: dir });
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.pem'), key: read('server.key'), cert: read('server.pem') };
}

export const message = (subject: string, extra: string[] = []) =>
  [
    'From: John Doe <john.doe@example.com>',
    'To: <jane@example.org>',
    `Subject: ${subject}`,
    'Date: Sun, 29 Nov 2026 17:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '')}@example.com>`,
    ...extra,
    '',
    'Hello.',
    '',
  ].join('\r\n');

export async function deliveryFixture(t: Test, configInput: Partial<ApplianceConfigInput>, options: Partial<DeliveryDeps> = {}) {
  const root = tempState(t, 'appliance-delivery-');
  const config: ApplianceConfig = parseConfig({
    system: { hostname: 'mail.example.com' },
    logs: { subscriptions: [{ name: 'mail_logs', type: 'mail' }] },
    ...configInput,
  });
  const logs = new LogSubscriptions(join(root, 'logs'), config.logs.subscriptions);
  const spoolDir = join(root, 'spool');
  const spool = new Spool(spoolDir);
  const delivery = new Delivery({
    spoolDir,
    config: () => config,
    logs,
    scanMs: 50,
    retry: { firstMs: 300, maxMs: 2000 },
    timeouts: { connectMs: 3000, greetingMs: 3000, socketMs: 5000 },
    ...options,
  });
  delivery.start();
  t.teardown(async () => {
    await delivery.stop();
    logs.close();
  });
  let nextMid = 1;
  return {
    root,
    config,
    delivery,
    spoolDir,
    /** Accepts a message into the spool as the gateway does; resolves when it would have said 250. */
    async accept(envelope: Partial<Envelope> & { rcptTo: string[] }, content: string): Promise<number> {
      const mid = envelope.mid ?? nextMid++;
      const full: Envelope = {
        mid,
        icid: 1,
        listener: 'OutgoingMail',
        mailFrom: 'john.doe@example.com',
        clientAddress: '127.0.0.1',
        receivedAt: new Date().toISOString(),
        ...envelope,
      };
      const received = `Received: from client.example.com ([127.0.0.1])\r\n\tby mail.example.com with ESMTP id ${mid};\r\n\t${new Date().toUTCString()}\r\n`;
      const result = await spool.accept(received, Readable.from([Buffer.from(content)]), full, 10_000_000);
      if (!result.accepted) throw new Error('spool refused the message');
      return mid;
    },
    mailLog: () => {
      try {
        return readFileSync(join(root, 'logs', 'mail_logs', 'mail_logs.current'), 'utf8');
      } catch {
        return '';
      }
    },
  };
}

export async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}
