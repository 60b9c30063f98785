// Connection (ICID) and message (MID) numbers that never repeat, across
// restarts: numbers are handed out from a block reserved on disk, so a crash
// skips at most the rest of a block and never reuses a number.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurably } from '../os/atomic-file.js';

const blockSize = 1000;

export class IdCounter {
  private next: number;
  private reservedUpTo: number;

  constructor(private readonly path: string) {
    const stored = existsSync(path) ? Number.parseInt(readFileSync(path, 'utf8'), 10) : 1;
    this.next = Number.isSafeInteger(stored) && stored > 0 ? stored : 1;
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
