// Durable replacement of a file: write a temporary file, fsync it, rename it
// over the old one, fsync the folder. A crash at any moment leaves either the
// old file or the new one, never a mix.
import { closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileDurably(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  // O_NOFOLLOW: a link planted at the temporary's (predictable) name is refused, not written through.
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } catch (err) {
    // A write that failed (a full disk) leaves no partial temporary behind.
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw err;
  }
  closeSync(fd);
  // Fault-injection point for the crash tests: the new content is on disk, the old file still in place.
  if (process.env.APPLIANCE_FAULT === 'kill-before-rename') process.kill(process.pid, 'SIGKILL');
  renameSync(temporary, path);
  fsyncDirectory(dir);
}
