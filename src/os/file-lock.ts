// An exclusive lock between processes: a lock file holding the owner's pid and a
// token. It appears whole (written under a private name, then hard-linked into place,
// which fails if a lock exists), so it is never seen empty. A lock left by a process that
// died is taken over; the owner removes the lock only while it is still its own.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function ownerAlive(text: string): boolean {
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryAcquire(path: string, content: string): boolean {
  const mine = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(mine, content, { mode: 0o600 });
  try {
    linkSync(mine, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    takeOverIfAbandoned(path);
    return false;
  } finally {
    rmSync(mine, { force: true });
  }
}

/** Removes a lock whose owner is dead, unless another process replaced it in the meantime (same inode). */
function takeOverIfAbandoned(path: string): void {
  try {
    const seen = statSync(path);
    if (ownerAlive(readFileSync(path, 'utf8'))) return;
    if (statSync(path).ino === seen.ino) unlinkSync(path);
  } catch {
    // gone already: the next attempt takes it
  }
}

export class LockTimeoutError extends Error {}

/** Runs `work` while holding the lock at `path`; waits up to `timeoutMs` for it. */
export async function withFileLock<T>(path: string, work: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const content = `${process.pid} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + timeoutMs;
  while (!tryAcquire(path, content)) {
    if (Date.now() > deadline) {
      let holder = 'unknown';
      try {
        holder = readFileSync(path, 'utf8').split(' ')[0] ?? holder;
      } catch {}
      throw new LockTimeoutError(`another commit is in progress (lock ${path}, held by pid ${holder}); try again in a moment`);
    }
    await sleep(25);
  }
  try {
    return await work();
  } finally {
    try {
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/** withFileLock for synchronous work (a pending-changes file's read-modify-write): the same lock file, waited for without an event loop turn. */
export function withFileLockSync<T>(path: string, work: () => T, timeoutMs = 10_000): T {
  const content = `${process.pid} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!tryAcquire(path, content)) {
    if (Date.now() > deadline) throw new LockTimeoutError(`another session is changing the same pending changes (lock ${path}); try again in a moment`);
    Atomics.wait(pause, 0, 0, 25);
  }
  try {
    return work();
  } finally {
    try {
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // already gone
    }
  }
}
