// An exclusive lock between processes: a lock file created with O_EXCL that
// holds the owner's pid. A lock left by a process that died is taken over.
import { closeSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a lock file may stay without an owner's pid (created, pid not yet written) before it counts as left behind. */
const unwrittenLockGraceMs = 30_000;

function ownerAlive(path: string): boolean {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(path, 'utf8');
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch {
    return true; // gone or unreadable this instant: try again
  }
  const pid = Number.parseInt(text, 10);
  // An empty file is a lock its owner has just created and not yet written (slow machines
  // show this): held, unless it has stayed empty long enough to be a crash's leftover.
  if (!Number.isInteger(pid) || pid <= 0) return ageMs < unwrittenLockGraceMs;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!ownerAlive(path)) {
      try {
        unlinkSync(path);
      } catch {}
    }
    return false;
  }
}

export class LockTimeoutError extends Error {}

/** Runs `work` while holding the lock at `path`; waits up to `timeoutMs` for it. */
export async function withFileLock<T>(path: string, work: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!tryAcquire(path)) {
    if (Date.now() > deadline) {
      throw new LockTimeoutError(`another commit is in progress (lock ${path}, held by pid ${readFileSync(path, 'utf8').trim()}); try again in a moment`);
    }
    await sleep(25);
  }
  try {
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}
