// One log subscription's files: NAME.current, rolled over by size into
// NAME.@YYYYMMDDTHHMMSSmmm.s, keeping at most maxFiles rolled files.
// Several processes may append to the same subscription: each appends with
// O_APPEND, and reopens when it finds that another process rolled the file over.
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface RotationLimits {
  maxFileBytes: number;
  maxFiles: number;
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '').replace('Z', '');
}

/** How often a writer checks whether another process rolled the file over. */
const reopenCheckMs = 1000;

export class RotatingFile {
  private fd: number | undefined;
  private size = 0;
  private checkedAt = 0;
  private readonly currentPath: string;

  constructor(
    readonly dir: string,
    readonly name: string,
    private limits: RotationLimits,
    /** Called with the file that rollover deleted because maxFiles was reached. */
    private readonly onOldestDeleted: (file: string) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.currentPath = join(dir, `${name}.current`);
  }

  setLimits(limits: RotationLimits): void {
    this.limits = limits;
  }

  append(line: string): void {
    const fd = this.openCurrent();
    this.size += writeSync(fd, line.endsWith('\n') ? line : `${line}\n`);
    if (this.size >= this.limits.maxFileBytes) this.rollOver();
  }

  /** Rolled files, oldest first. */
  rolledFiles(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith(`${this.name}.@`) && f.endsWith('.s'))
      .sort();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openCurrent(): number {
    if (this.fd !== undefined) {
      const now = Date.now();
      if (now - this.checkedAt < reopenCheckMs) return this.fd;
      this.checkedAt = now;
      let sameFile = false;
      try {
        const onDisk = statSync(this.currentPath);
        sameFile = onDisk.ino === fstatSync(this.fd).ino;
        this.size = onDisk.size; // other processes append too
      } catch {}
      if (sameFile) return this.fd;
      this.close();
    }
    this.fd = openSync(this.currentPath, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
    this.checkedAt = Date.now();
    return this.fd;
  }

  private rollOver(): void {
    const lock = join(this.dir, `.${this.name}.rolling`);
    let lockFd: number;
    try {
      lockFd = openSync(lock, 'wx', 0o600);
    } catch {
      return; // another process is rolling this file over right now
    }
    try {
      renameSync(this.currentPath, join(this.dir, `${this.name}.@${stamp(new Date())}.s`));
      this.close();
      this.openCurrent();
      const rolled = this.rolledFiles();
      for (const file of rolled.slice(0, Math.max(0, rolled.length - this.limits.maxFiles))) {
        rmSync(join(this.dir, file), { force: true });
        this.onOldestDeleted(file);
      }
    } finally {
      closeSync(lockFd);
      rmSync(lock, { force: true });
    }
  }
}
