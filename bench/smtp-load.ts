// A minimal SMTP load generator for the benchmarks: N parallel connections,
// each sending M messages one after another (no pipelining), plain or after
// STARTTLS with a client certificate (a full handshake per connection: no session
// resumption); and a holder of many open sessions, for memory under load.
// Only node: imports and erasable TypeScript, so `node bench/*.ts` runs it.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

class Conversation {
  private buffer = '';
  private wake: (() => void) | undefined;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.wake?.();
    });
  }

  async reply(): Promise<string> {
    for (;;) {
      const end = /^\d{3} .*\r\n/m.exec(this.buffer);
      if (end) {
        const reply = this.buffer.slice(0, end.index + end[0].length);
        this.buffer = this.buffer.slice(end.index + end[0].length);
        return reply;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async send(line: string | Buffer): Promise<void> {
    if (!this.socket.write(line)) await new Promise((r) => this.socket.once('drain', r));
  }

  async expect(line: string | Buffer, code: string): Promise<void> {
    await this.send(line);
    const reply = await this.reply();
    if (!reply.startsWith(code)) throw new Error(`expected ${code}, got ${reply.trim()}`);
  }
}

export function messageOfSize(bytes: number): Buffer {
  const header = 'From: <load@example.com>\r\nTo: <sink@example.com>\r\nSubject: load\r\n\r\n';
  const line = `${'x'.repeat(76)}\r\n`;
  const body = line.repeat(Math.max(1, Math.ceil((bytes - header.length) / line.length)));
  return Buffer.from(`${header}${body}.\r\n`);
}

export interface LoadResult {
  messages: number;
  seconds: number;
  perSecond: number;
}

export interface ClientTls {
  /** PEM client certificate, its key, and the CA that signed the server's certificate. */
  cert: string;
  key: string;
  ca: string;
}

export interface LoadOptions {
  /** STARTTLS with this client certificate on every connection. */
  tls?: ClientTls;
  /** Connections each worker opens one after another (default 1). */
  connectionsPerWorker?: number;
}

async function openSession(port: number, tls?: ClientTls): Promise<Conversation> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let smtp = new Conversation(socket);
  const banner = await smtp.reply();
  if (!banner.startsWith('220')) throw new Error(`banner: ${banner.trim()}`);
  await smtp.expect('EHLO load.example.com\r\n', '250');
  if (tls) {
    await smtp.expect('STARTTLS\r\n', '220');
    socket.removeAllListeners('data');
    const secure = tlsConnect({ socket, servername: 'localhost', cert: tls.cert, key: tls.key, ca: tls.ca });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    smtp = new Conversation(secure);
    await smtp.expect('EHLO load.example.com\r\n', '250');
  }
  return smtp;
}

export async function sendLoad(port: number, workers: number, messagesPerConnection: number, message: Buffer, options: LoadOptions = {}): Promise<LoadResult> {
  const rounds = options.connectionsPerWorker ?? 1;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let round = 0; round < rounds; round++) {
        const smtp = await openSession(port, options.tls);
        for (let i = 0; i < messagesPerConnection; i++) {
          await smtp.expect('MAIL FROM:<load@example.com>\r\n', '250');
          await smtp.expect('RCPT TO:<sink@example.com>\r\n', '250');
          await smtp.expect('DATA\r\n', '354');
          await smtp.expect(message, '250');
        }
        await smtp.expect('QUIT\r\n', '221');
        smtp.socket.destroy();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const messages = workers * rounds * messagesPerConnection;
  return { messages, seconds, perSecond: messages / seconds };
}

/**
 * Opens `count` sessions and leaves them open: each has sent EHLO, MAIL and RCPT;
 * every other one is mid-DATA, with `dataBytes` of its message sent and no end.
 * Resolves once every session is in that state; `close()` drops them all.
 */
export async function holdSessions(port: number, count: number, dataBytes: number): Promise<{ close: () => void }> {
  const sessions: Conversation[] = [];
  const partial = messageOfSize(dataBytes).subarray(0, dataBytes);
  // In batches, as a busy site's senders arrive: not all 200 SYNs at once.
  for (let first = 0; first < count; first += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - first) }, async (_, j) => {
        const smtp = await openSession(port);
        sessions.push(smtp);
        await smtp.expect('MAIL FROM:<load@example.com>\r\n', '250');
        await smtp.expect('RCPT TO:<sink@example.com>\r\n', '250');
        if ((first + j) % 2 === 1) {
          await smtp.expect('DATA\r\n', '354');
          await smtp.send(partial);
        }
      }),
    );
  }
  return {
    close: () => {
      for (const smtp of sessions) smtp.socket.destroy();
    },
  };
}
