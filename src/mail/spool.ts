// The incoming spool: where an accepted message lies before delivery. Each
// message is one file, spool/incoming/MID.msg: a first line holding the
// envelope as JSON, then the message with the Received header on top. It is
// streamed to a temporary file (never held whole in memory), fsynced, renamed
// into place, and the folder fsynced; only then is `250` sent. The renamed file
// is the mark of a complete message: a crash before it leaves only a temporary.
import { createWriteStream, mkdirSync, readdirSync, rmSync, type WriteStream } from 'node:fs';
import { open, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

export interface Envelope {
  mid: number;
  icid: number;
  listener: string;
  mailFrom: string;
  rcptTo: string[];
  clientAddress: string;
  /** How the sender was authenticated: a certificate subject, an SMTP AUTH user, or nothing. */
  authenticatedAs?: { method: 'certificate' | 'smtp-auth'; identity: string };
  receivedAt: string;
  /** Set on messages the appliance made itself (bounces, alerts), which no client sent. */
  generated?: 'bounce' | 'alert';
  /** The client gave SMTPUTF8 on MAIL FROM (RFC 6531): the next hop must offer it if the message needs it. */
  smtpUtf8?: boolean;
  /** What the gateway decided when it took the message, so delivery never decides it again from a later configuration. */
  reception?: ReceptionDecisions;
}

export interface ReceptionDecisions {
  /** The host access table's sender group, and the mail flow policy it chose. */
  senderGroup: string;
  policy: string;
  /** Whether delivery signs the message with the DKIM profile of its From domain. */
  dkimSigning: boolean;
  /** The authserv-id of the Authentication-Results field (the listener's host name, else the appliance's). */
  authservId: string;
}

export type SpoolResult = { accepted: true; bytes: number } | { accepted: false; bytes: number; reason: 'too-big' };

/**
 * fsyncs a folder for many renames at once: a caller waits for a sync that
 * starts after its rename, and callers arriving while one runs share the next.
 */
class FolderSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.fsync().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  private async fsync(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** MIDs of messages the appliance makes itself (bounces, alerts) start here: the delivery service has a counter of its own. */
export const generatedMidBase = 1_000_000_000;

/** The highest MID in [from, below) with a file anywhere in the spool (queue folders, statuses, corrupt/); `from - 1` if none. */
export function highestSpooledMid(spoolDir: string, from = 1, below = generatedMidBase): number {
  let highest = from - 1;
  for (const folder of ['incoming', 'active', 'deferred', 'corrupt', 'status']) {
    let files: string[] = [];
    try {
      files = readdirSync(join(spoolDir, folder));
    } catch {}
    for (const file of files) {
      const mid = /^\.?(\d+)\.(msg|json|tmp)$/.exec(file)?.[1];
      if (mid && Number(mid) >= from && Number(mid) < below) highest = Math.max(highest, Number(mid));
    }
  }
  return highest;
}

function drainedOrClosed(out: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('close', done);
  });
}

export class Spool {
  readonly incoming: string;
  private readonly folder: FolderSync;

  constructor(spoolDir: string) {
    this.incoming = join(spoolDir, 'incoming');
    mkdirSync(this.incoming, { recursive: true, mode: 0o700 });
    this.folder = new FolderSync(this.incoming);
  }

  /**
   * Removes what a crash left half-written: no client was told 250 for it, so
   * the client sends it again. Call at start, before any session is open.
   */
  removeTemporaries(): string[] {
    const left = readdirSync(this.incoming).filter((f) => /^\.\d+\.tmp$/.test(f));
    for (const file of left) rmSync(join(this.incoming, file), { force: true });
    return left;
  }

  /** Whether the spool's file system has more free space than `reserveBytes`. */
  async hasRoom(reserveBytes: number): Promise<boolean> {
    const stats = await statfs(this.incoming);
    return stats.bavail * stats.bsize > reserveBytes;
  }

  /**
   * Streams a message into the spool. Past `maxBytes` the rest is read and thrown
   * away, so the client gets its reply after the final dot (seed 69829) with memory
   * staying flat (seed 72023), and nothing is kept.
   */
  async accept(header: string, body: Readable, envelope: Envelope, maxBytes: number): Promise<SpoolResult> {
    const temporary = join(this.incoming, `.${envelope.mid}.tmp`);
    const out = createWriteStream(temporary, { mode: 0o600, flush: true });
    let failed: Error | undefined;
    out.on('error', (err) => {
      failed ??= err;
    });
    out.write(`${JSON.stringify(envelope)}\n${header}`);
    let bytes = 0;
    let tooBig = false;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > maxBytes) tooBig = true;
        // After a write error (a full disk) the rest is read and dropped too: the client gets its 4xx after the final dot.
        if (tooBig || failed) continue;
        if (!out.write(chunk)) await drainedOrClosed(out);
      }
      if (failed) throw failed;
      out.end();
      await finished(out); // `flush` fsyncs the file before it closes
      if (tooBig) {
        await rm(temporary, { force: true });
        return { accepted: false, bytes, reason: 'too-big' };
      }
      await rename(temporary, join(this.incoming, `${envelope.mid}.msg`));
      await this.folder.sync();
      return { accepted: true, bytes };
    } catch (err) {
      out.destroy();
      // A refusal can come before the file is even open: wait for it to close, or the open would recreate it after the rm.
      await finished(out).catch(() => undefined);
      await rm(temporary, { force: true });
      throw err;
    }
  }
}
