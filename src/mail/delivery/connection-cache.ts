// Open SMTP connections kept for the next message to the same host, as
// Postfix's connection cache does: a connection that just delivered a message
// waits idle for a moment (2 s) and carries up to 100 messages, so a burst to
// one destination does not pay a TCP and TLS handshake per message.
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface CachedConnection {
  connection: SMTPConnection;
  dcid: number;
  tls?: string;
  uses: number;
}

export class ConnectionCache {
  private readonly idle = new Map<string, { cached: CachedConnection; timer: NodeJS.Timeout }[]>();

  constructor(
    private readonly onClose: (cached: CachedConnection) => void,
    private readonly idleMs = 2000,
    private readonly maxUses = 100,
  ) {}

  /** An idle connection to the key's host, taken out of the cache, or undefined. */
  take(key: string): CachedConnection | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop();
      if (!entry) break;
      clearTimeout(entry.timer);
      if (!entry.cached.connection.destroyed) return entry.cached;
    }
    return undefined;
  }

  /** Gives a connection back after a clean transaction; it is closed when it has idled or served enough. */
  put(key: string, cached: CachedConnection): void {
    if (cached.connection.destroyed || cached.uses >= this.maxUses) {
      this.close(cached);
      return;
    }
    const list = this.idle.get(key) ?? [];
    const entry = {
      cached,
      timer: setTimeout(() => {
        list.splice(list.indexOf(entry), 1);
        this.close(cached);
      }, this.idleMs),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  close(cached: CachedConnection): void {
    cached.connection.quit();
    setTimeout(() => cached.connection.close(), 5000).unref(); // a next hop that never answers QUIT
    this.onClose(cached);
  }

  closeAll(): void {
    for (const list of this.idle.values()) {
      for (const { cached, timer } of list.splice(0)) {
        clearTimeout(timer);
        this.close(cached);
      }
    }
  }
}
