// A minimal SMTP load generator for the benchmarks: N parallel connections,
// each sending M messages one after another (no pipelining), plain text.
// Only node: imports and erasable TypeScript, so `node bench/*.ts` runs it.
import { connect, type Socket } from 'node:net';

class Conversation {
  private buffer = '';
  private wake: (() => void) | undefined;
  private readonly socket: Socket;

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

  async expect(line: string | Buffer, code: string): Promise<void> {
    if (!this.socket.write(line)) await new Promise((r) => this.socket.once('drain', r));
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

export async function sendLoad(port: number, connections: number, messagesPerConnection: number, message: Buffer): Promise<LoadResult> {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      const smtp = new Conversation(socket);
      await smtp.reply();
      await smtp.expect('EHLO load.example.com\r\n', '250');
      for (let i = 0; i < messagesPerConnection; i++) {
        await smtp.expect('MAIL FROM:<load@example.com>\r\n', '250');
        await smtp.expect('RCPT TO:<sink@example.com>\r\n', '250');
        await smtp.expect('DATA\r\n', '354');
        await smtp.expect(message, '250');
      }
      await smtp.expect('QUIT\r\n', '221');
      socket.destroy();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const messages = connections * messagesPerConnection;
  return { messages, seconds, perSecond: messages / seconds };
}
