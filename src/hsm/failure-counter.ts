// Consecutive failed Officer logins, on disk. SoftHSM2 never locks a PIN, so
// the appliance counts; the count is written durably before each attempt so
// that killing the process mid-attempt cannot win an extra try.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurably } from '../os/atomic-file.js';

export class FailureCounter {
  constructor(private readonly path: string) {}

  read(): number {
    if (!existsSync(this.path)) return 0;
    const parsed: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
    const count = (parsed as { consecutiveFailures?: unknown }).consecutiveFailures;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) throw new Error(`${this.path} holds no failure count`);
    return count;
  }

  write(count: number): void {
    writeFileDurably(this.path, `${JSON.stringify({ consecutiveFailures: count, updated: new Date().toISOString() })}\n`, 0o600);
  }
}
