// The queue commands, as functions for the console: list, show, count by
// state read the spool directly; delete, bounce and flush leave a request for
// the queue manager (see requests.ts).
import { statSync } from 'node:fs';
import type { Envelope } from '../spool.js';
import { headerValue, parseHeaderBlock } from './headers.js';
import { type MessageStatus, type QueueState, QueueStore, queueStates } from './queue-store.js';
import { leaveRequest } from './requests.js';

export interface QueueEntry {
  mid: number;
  state: QueueState;
  size: number;
  envelope: Envelope;
  subject: string;
  status?: MessageStatus;
}

export class QueueCommands {
  private readonly store: QueueStore;

  constructor(spoolDir: string) {
    this.store = new QueueStore(spoolDir);
  }

  count(): Record<QueueState, number> {
    return Object.fromEntries(queueStates.map((s) => [s, this.store.list(s).length])) as Record<QueueState, number>;
  }

  /** Every queued message, or those of one state; a message that moves or leaves while we read is skipped. */
  async list(state?: QueueState): Promise<QueueEntry[]> {
    const entries: QueueEntry[] = [];
    for (const s of state ? [state] : queueStates) {
      for (const mid of this.store.list(s)) {
        const entry = await this.show(mid);
        if (entry) entries.push(entry);
      }
    }
    return entries;
  }

  async show(mid: number): Promise<QueueEntry | undefined> {
    for (let tries = 0; tries < 3; tries++) {
      const state = this.store.find(mid);
      if (!state) return undefined;
      try {
        const queued = await this.store.read(state, mid);
        const status = this.store.readStatus(mid);
        return {
          mid,
          state,
          size: statSync(this.store.path(state, mid)).size - queued.messageStart,
          envelope: queued.envelope,
          subject: headerValue(parseHeaderBlock(queued.headerBlock), 'subject') ?? '',
          ...(status ? { status } : {}),
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  delete(target: { mid?: number; recipient?: string }): void {
    leaveRequest(this.store.requestsDir, { action: 'delete', ...target });
  }

  bounce(target: { mid?: number; recipient?: string }): void {
    leaveRequest(this.store.requestsDir, { action: 'bounce', ...target });
  }

  flush(): void {
    leaveRequest(this.store.requestsDir, { action: 'flush' });
  }
}
