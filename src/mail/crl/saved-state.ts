// What the CRL service keeps on disk under statePaths().crl: each source's last
// accepted CRL (crls/<source>.crl, DER) and its status (status/<source>.json),
// both replaced durably so a crash leaves the old file or the new one.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory, writeFileDurably } from '../../os/atomic-file.js';

export interface SourceStatus {
  name: string;
  lastAttempt?: string;
  lastSuccess?: string;
  /** The URL of the last attempt's outcome: the one accepted, or the last one tried. */
  urlUsed?: string;
  entries?: number;
  crlNumber?: string;
  issuer?: string;
  thisUpdate?: string;
  nextUpdate?: string;
  lastError?: string;
  /** When the schedule runs next (not saved). */
  nextRun?: string;
  /** While a download runs (not saved). */
  inProgress?: { url: string; received: number; total?: number };
}

export class SavedState {
  constructor(private readonly dir: string) {}

  /** Where downloads are written while they arrive (the same file system as crls/, so keeping one is a rename). */
  downloadDir(): string {
    const dir = join(this.dir, 'downloads');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Removes what a download interrupted by a crash left behind (one CRL service per state folder: the gateway service's). */
  clearDownloads(): void {
    const dir = join(this.dir, 'downloads');
    if (!existsSync(dir)) return;
    for (const file of readdirSync(dir)) rmSync(join(dir, file), { force: true });
  }

  /** Makes a verified DER file (fsynced, in downloadDir()) the source's saved CRL: renamed over the old one, then the folder fsynced. */
  keepCrl(source: string, file: string): void {
    const dir = join(this.dir, 'crls');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    renameSync(file, join(dir, `${source}.crl`));
    fsyncDirectory(dir);
  }

  savedCrls(): { source: string; path: string }[] {
    const dir = join(this.dir, 'crls');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.crl') && !f.startsWith('.'))
      .map((f) => ({ source: f.slice(0, -'.crl'.length), path: join(dir, f) }));
  }

  /** Moves a damaged saved CRL to corrupt/, for the administrator to look at; returns where it went. */
  setAside(source: string, path: string): string {
    const corrupt = join(this.dir, 'corrupt');
    mkdirSync(corrupt, { recursive: true, mode: 0o700 });
    const target = join(corrupt, `${source}-${new Date().toISOString().replace(/[:.]/g, '')}.crl`);
    renameSync(path, target);
    return target;
  }

  saveStatus(status: SourceStatus): void {
    const { inProgress: _, nextRun: __, ...kept } = status;
    writeFileDurably(join(this.dir, 'status', `${status.name}.json`), `${JSON.stringify(kept, null, 2)}\n`);
  }

  loadStatus(source: string): SourceStatus {
    try {
      return { ...JSON.parse(readFileSync(join(this.dir, 'status', `${source}.json`), 'utf8')), name: source };
    } catch {
      return { name: source };
    }
  }
}
