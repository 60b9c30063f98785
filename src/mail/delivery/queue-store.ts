// The queue on disk, Postfix-style: a message file moves between folders by
// atomic rename (incoming → active → deferred → active …) and is unlinked only
// once every recipient is delivered, bounced or deleted. What happened to each
// recipient is in status/MID.json, replaced durably after every attempt. A crash
// at any moment leaves each message in exactly one folder; at start-up the
// active folder holds the messages that were in flight and they go out again
// (at-least-once: a recipient delivered just before the crash may get a duplicate).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../../os/atomic-file.js';
import type { Envelope } from '../spool.js';

export const queueStates = ['incoming', 'active', 'deferred'] as const;
export type QueueState = (typeof queueStates)[number];

export interface RecipientStatus {
  address: string;
  state: 'pending' | 'delivered' | 'bounced' | 'deleted';
  /** The last reply or error for this recipient. */
  reply?: string;
  remoteHost?: string;
}

export interface MessageStatus {
  mid: number;
  attempts: number;
  firstAttemptAt?: string;
  nextAttemptAt?: string;
  recipients: RecipientStatus[];
}

export interface QueuedMessage {
  envelope: Envelope;
  /** Byte offset of the message (after the envelope line). */
  messageStart: number;
  /** The header block, latin1, up to and including the empty line. */
  headerBlock: string;
  /** Byte offset of the body. */
  bodyStart: number;
  size: number;
}

const maxHeaderBytes = 1024 * 1024;

/** A queue file whose envelope line cannot be read. */
export class CorruptQueueFile extends Error {}

export class QueueStore {
  readonly root: string;
  private readonly statusDir: string;
  readonly requestsDir: string;

  constructor(spoolDir: string) {
    this.root = spoolDir;
    for (const state of queueStates) mkdirSync(join(spoolDir, state), { recursive: true, mode: 0o700 });
    this.statusDir = join(spoolDir, 'status');
    this.requestsDir = join(spoolDir, 'requests');
    mkdirSync(this.statusDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.requestsDir, { recursive: true, mode: 0o700 });
  }

  path(state: QueueState, mid: number): string {
    return join(this.root, state, `${mid}.msg`);
  }

  /** MIDs in a folder, oldest first; temporaries (dot files) are not messages yet. */
  list(state: QueueState): number[] {
    return readdirSync(join(this.root, state))
      .filter((f) => /^\d+\.msg$/.test(f))
      .map((f) => Number.parseInt(f, 10))
      .sort((a, b) => a - b);
  }

  /** Where a message is now, or undefined. */
  find(mid: number): QueueState | undefined {
    return queueStates.find((state) => {
      try {
        statSync(this.path(state, mid));
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Atomic move; false when the message is no longer in `from` (deleted meanwhile). */
  move(mid: number, from: QueueState, to: QueueState): boolean {
    try {
      renameSync(this.path(from, mid), this.path(to, mid));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  readStatus(mid: number): MessageStatus | undefined {
    try {
      return JSON.parse(readFileSync(join(this.statusDir, `${mid}.json`), 'utf8')) as MessageStatus;
    } catch {
      return undefined;
    }
  }

  writeStatus(status: MessageStatus): void {
    writeFileDurably(join(this.statusDir, `${status.mid}.json`), JSON.stringify(status));
  }

  /** The message file goes first: a status without a message is an orphan that `sweep` removes. */
  remove(mid: number, state: QueueState): void {
    rmSync(this.path(state, mid), { force: true });
    rmSync(join(this.statusDir, `${mid}.json`), { force: true });
  }

  /** Moves an unreadable message out of the queue into corrupt/, where nothing touches it; returns where it went. */
  quarantine(mid: number, state: QueueState): string {
    const target = join(this.root, 'corrupt', `${mid}.msg`);
    mkdirSync(join(this.root, 'corrupt'), { recursive: true, mode: 0o700 });
    try {
      renameSync(this.path(state, mid), target);
    } catch {}
    rmSync(join(this.statusDir, `${mid}.json`), { force: true });
    return target;
  }

  /** Removes status files whose message is gone (a crash between the two unlinks). */
  sweep(): void {
    const present = new Set(queueStates.flatMap((s) => this.list(s)));
    for (const file of readdirSync(this.statusDir)) {
      const mid = Number.parseInt(file, 10);
      if (file.endsWith('.json') && !present.has(mid)) rmSync(join(this.statusDir, file), { force: true });
    }
  }

  async read(state: QueueState, mid: number): Promise<QueuedMessage> {
    const handle = await open(this.path(state, mid), 'r');
    try {
      const size = (await handle.stat()).size;
      const limit = Math.min(size, maxHeaderBytes + 64 * 1024);
      const buffer = Buffer.alloc(limit);
      const { bytesRead } = await handle.read(buffer, 0, limit, 0);
      const text = buffer.subarray(0, bytesRead).toString('latin1');
      const newline = text.indexOf('\n');
      if (newline < 0) throw new CorruptQueueFile(`queue file ${mid} has no envelope line`);
      let envelope: Envelope;
      try {
        envelope = JSON.parse(Buffer.from(text.slice(0, newline), 'latin1').toString('utf8')) as Envelope;
      } catch (err) {
        throw new CorruptQueueFile(`queue file ${mid} has an unreadable envelope: ${(err as Error).message}`);
      }
      if (!Array.isArray(envelope.rcptTo) || typeof envelope.mailFrom !== 'string') throw new CorruptQueueFile(`queue file ${mid} has an incomplete envelope`);
      const messageStart = newline + 1;
      const rest = text.slice(messageStart);
      const blank = /\r?\n\r?\n/.exec(rest);
      // No empty line: the whole (bounded) message is header, and the body is empty.
      const headerEnd = blank ? blank.index + blank[0].length : rest.length;
      return { envelope, messageStart, headerBlock: rest.slice(0, headerEnd), bodyStart: messageStart + headerEnd, size };
    } finally {
      await handle.close();
    }
  }
}
