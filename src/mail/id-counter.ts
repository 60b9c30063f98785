// Connection (ICID) and message (MID) numbers that do not repeat across restarts:
// numbers are handed out from a block reserved on disk, so a crash skips at most the
// rest of a block. A counter file set aside as unreadable starts again above every MID
// still in the spool (numbers of messages already delivered may then come again).
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { writeFileDurably } from '../os/atomic-file.js';

const blockSize = 1000;

export interface IdCounterOptions {
  /** The highest number known to be in use: an unreadable counter file goes on above it rather than from 1. */
  inUse?: () => number;
  /** An unreadable counter file was moved to `setAsideAs`. */
  onUnreadable?: (problem: { content: string; setAsideAs: string; next: number }) => void;
}

export class IdCounter {
  private next: number;
  private reservedUpTo: number;

  constructor(
    private readonly path: string,
    options: IdCounterOptions = {},
  ) {
    this.next = 1;
    if (existsSync(path)) {
      const content = readFileSync(path, 'utf8');
      const stored = /^\d+$/.test(content.trim()) ? Number(content.trim()) : Number.NaN;
      if (Number.isSafeInteger(stored) && stored > 0) this.next = stored;
      else {
        // Starting again from 1 would hand out numbers of messages still queued.
        this.next = Math.max(0, options.inUse?.() ?? 0) + 1;
        const setAsideAs = `${path}.unusable-${Date.now()}`;
        renameSync(path, setAsideAs);
        options.onUnreadable?.({ content, setAsideAs, next: this.next });
      }
    }
    this.reservedUpTo = this.next;
  }

  take(): number {
    if (this.next >= this.reservedUpTo) {
      this.reservedUpTo = this.next + blockSize;
      writeFileDurably(this.path, String(this.reservedUpTo));
    }
    return this.next++;
  }
}
