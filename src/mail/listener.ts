// A listener's TCP side: it accepts connections on its address and port, holds
// the connection limit, and hands each connection to the current endpoint. A
// reload swaps the endpoint: new connections get the new configuration, open
// sessions finish on the one they started with.
import { createServer, type Server, type Socket } from 'node:net';
import type { Listener } from '../os/config/schema.js';
import type { SmtpEndpoint } from './smtp-endpoint.js';
import { replies } from './smtp-replies.js';

export class ListenerSocket {
  private readonly server: Server;
  private endpoint: SmtpEndpoint;
  private readonly retired = new Set<SmtpEndpoint>();
  private open = 0;

  constructor(endpoint: SmtpEndpoint) {
    this.endpoint = endpoint;
    this.server = createServer((socket) => this.onConnection(socket));
  }

  get config(): Listener {
    return this.endpoint.listener;
  }

  get status(): string {
    return `${this.config.name} on ${this.config.address}:${this.config.port}: ${this.open} open connection(s), ${this.endpoint.tlsStatus}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.config.address, port: this.config.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** New connections go to `next`; the previous endpoint closes once its sessions end. */
  replaceEndpoint(next: SmtpEndpoint): void {
    const previous = this.endpoint;
    this.endpoint = next;
    this.retired.add(previous);
    void previous.retire().finally(() => this.retired.delete(previous));
  }

  /** Stops accepting; open sessions get the endpoint's close timeout to finish. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([this.endpoint.close(), ...[...this.retired].map((e) => e.close())]);
    await stopped;
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {}); // a client resetting the connection is not our error
    if (this.open >= this.config.maxConnections) {
      const reply = replies.tooManyConnections();
      socket.end(`${reply.responseCode} ${reply.message}\r\n`);
      return;
    }
    this.open++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.open--;
    };
    // smtp-server removes every listener of the raw socket at STARTTLS: the endpoint also says when the session ends.
    socket.once('close', release);
    void this.endpoint.accept(socket, release).catch(() => socket.destroy());
  }
}
