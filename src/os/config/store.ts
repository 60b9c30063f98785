// The committed configuration and its numbered revisions, on disk.
//
//   config/committed.json       the running configuration and its revision meta
//   config/revisions/NNNNNN.json every commit, kept for history and rollback
//   config/confirm.json         a pending `commit confirmed` and its deadline
//   config/commit.lock          one commit at a time, across processes
//
// A commit writes its revision file, then replaces committed.json; both writes
// are durable (see atomic-file.ts). committed.json is the truth: a revision
// file numbered above it is the remains of a commit that died, and is ignored.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileDurably } from '../atomic-file.js';
import { withFileLock } from '../file-lock.js';
import { CommitRefusedError, commitRefusal, lesserRole, type Role, roleOf } from './authorization.js';
import type { ApplianceConfig, CommitSource } from './schema.js';
import { maskSecretWords } from './secrets.js';
import { ConfigError, parseConfig } from './validate.js';
import { verifyConfig } from './verify.js';

export interface CommitAuthor {
  user: string;
  source: CommitSource;
  /** Client IP for SSH, the tty for the serial console. */
  from?: string;
}

export interface RevisionMeta extends CommitAuthor {
  revision: number;
  time: string;
  comment: string;
}

export interface Revision {
  meta: RevisionMeta;
  config: ApplianceConfig;
}

export interface PendingConfirm {
  revision: number;
  revertTo: number;
  deadline: string;
}

export interface CommitRequest extends CommitAuthor {
  comment?: string;
  /** The revision the candidate was taken from; concurrent commits are merged by section. */
  baseRevision: number;
  /** `commit confirmed MINUTES`: revert unless confirmed before then. */
  confirmMinutes?: number;
  /**
   * The role the front end authenticated the user with. The commit is judged with
   * the lesser of it and the role the running configuration gives `user` now
   * (authorization.ts), so a session older than a demotion gets no more than today's.
   */
  role?: Role;
}

export class CommitConflictError extends Error {}

/** A `commit confirmed` that was reverted: the revert's own revision, and what it undid. */
export interface Reversion {
  meta: RevisionMeta;
  undone: PendingConfirm;
}

const firstLines = (err: unknown) => (err as Error).message.split('\n').slice(0, 2).join(' ');

const sectionsOf = (c: ApplianceConfig) => Object.keys(c) as (keyof ApplianceConfig)[];

/** The top-level sections that differ between two configurations. */
export function changedSections(before: ApplianceConfig, after: ApplianceConfig): (keyof ApplianceConfig)[] {
  return [...new Set([...sectionsOf(before), ...sectionsOf(after)])].filter((section) => !isDeepStrictEqual(before[section], after[section]));
}

export class ConfigStore {
  readonly dir: string;
  private readonly revisionsDir: string;
  private readonly committedPath: string;
  private readonly confirmPath: string;
  private readonly lockPath: string;

  constructor(dir: string) {
    this.dir = dir;
    this.revisionsDir = join(dir, 'revisions');
    this.committedPath = join(dir, 'committed.json');
    this.confirmPath = join(dir, 'confirm.json');
    this.lockPath = join(dir, 'commit.lock');
  }

  /**
   * Creates revision 1 from `factory` if nothing was ever committed. A committed
   * file that cannot be read or is invalid is set aside and the newest valid
   * revision takes its place; `onRecovered` says which, so the caller can alert.
   */
  async initialise(factory: unknown, onRecovered: (problem: string, restored: RevisionMeta) => void = () => {}): Promise<Revision> {
    mkdirSync(this.revisionsDir, { recursive: true, mode: 0o700 });
    await withFileLock(this.lockPath, () => {
      if (!existsSync(this.committedPath)) {
        this.write({
          meta: { revision: 1, user: 'system', source: 'system', time: new Date().toISOString(), comment: 'factory configuration' },
          config: parseConfig(factory, 'the factory configuration is invalid'),
        });
        return;
      }
      try {
        this.committed();
      } catch (err) {
        const { revision, setAside } = this.restoreNewestValidRevision(factory);
        const alsoSetAside = setAside.length > 0 ? `; unusable revision files were set aside too: ${setAside.join(', ')}` : '';
        onRecovered(`${this.committedPath} was unusable (${firstLines(err)}) and was set aside${alsoSetAside}`, revision.meta);
      }
    });
    return this.committed();
  }

  /** Unreadable revisions passed over on the way go to unusable/ (kept for the administrator, and out of `history`). */
  private restoreNewestValidRevision(factory: unknown): { revision: Revision; setAside: string[] } {
    renameSync(this.committedPath, `${this.committedPath}.unusable-${Date.now()}`);
    const numbers = readdirSync(this.revisionsDir)
      .filter((f) => /^\d+\.json$/.test(f))
      .map((f) => Number.parseInt(f, 10))
      .sort((a, b) => b - a);
    const setAside: string[] = [];
    for (const n of numbers) {
      try {
        const revision = this.readRevisionFile(this.revisionPath(n));
        writeFileDurably(this.committedPath, `${JSON.stringify(revision, null, 2)}\n`);
        return { revision, setAside };
      } catch (err) {
        const unusable = join(this.dir, 'unusable');
        mkdirSync(unusable, { recursive: true, mode: 0o700 });
        const target = join(unusable, `${basename(this.revisionPath(n))}.${Date.now()}`);
        renameSync(this.revisionPath(n), target);
        setAside.push(`revision ${n} (${firstLines(err)}) to ${target}`);
      }
    }
    const revision: Revision = {
      meta: { revision: (numbers[0] ?? 0) + 1, user: 'system', source: 'system', time: new Date().toISOString(), comment: 'factory configuration: no readable revision was left' },
      config: parseConfig(factory, 'the factory configuration is invalid'),
    };
    this.write(revision);
    return { revision, setAside };
  }

  committed(): Revision {
    return this.readRevisionFile(this.committedPath);
  }

  revision(n: number): Revision {
    const current = this.committed();
    if (!Number.isInteger(n) || n < 1 || n > current.meta.revision) {
      throw new RangeError(`there is no revision ${n}; revisions run from 1 to ${current.meta.revision}`);
    }
    const path = this.revisionPath(n);
    if (!existsSync(path)) throw new RangeError(`revision ${n} is no longer kept`);
    return this.readRevisionFile(path);
  }

  /** Newest first. */
  history(limit = 50): RevisionMeta[] {
    const newest = this.committed().meta.revision;
    const metas: RevisionMeta[] = [];
    for (let n = newest; n >= 1 && metas.length < limit; n--) {
      if (existsSync(this.revisionPath(n))) metas.push(this.readRevisionFile(this.revisionPath(n)).meta);
    }
    return metas;
  }

  pendingConfirm(): PendingConfirm | undefined {
    if (!existsSync(this.confirmPath)) return undefined;
    return JSON.parse(readFileSync(this.confirmPath, 'utf8')) as PendingConfirm;
  }

  /**
   * Validates and commits a candidate. If others committed since the candidate's
   * base, their changes are kept: the candidate's changed sections are applied on
   * top, and a section changed on both sides is refused as a conflict.
   */
  async commit(candidate: unknown, request: CommitRequest): Promise<RevisionMeta> {
    const validated = verifyConfig(parseConfig(candidate, 'commit refused, nothing was changed'), 'commit refused, nothing was changed');
    const revision = await withFileLock(this.lockPath, () => {
      const current = this.committed();
      const config = request.baseRevision === current.meta.revision ? validated : this.merge(validated, request.baseRevision, current);
      const accountRole = roleOf(current.config, request.user);
      const refusal = commitRefusal(current.config, config, request.role ? lesserRole(request.role, accountRole) : accountRole);
      if (refusal) throw new CommitRefusedError(refusal);
      const meta: RevisionMeta = {
        revision: current.meta.revision + 1,
        user: request.user,
        source: request.source,
        ...(request.from ? { from: request.from } : {}),
        time: new Date().toISOString(),
        comment: maskSecretWords(request.comment ?? ''),
      };
      this.write({ meta, config });
      if (request.confirmMinutes !== undefined) {
        const deadline = new Date(Date.now() + request.confirmMinutes * 60_000).toISOString();
        writeFileDurably(this.confirmPath, JSON.stringify({ revision: meta.revision, revertTo: current.meta.revision, deadline } satisfies PendingConfirm));
      } else {
        this.clearConfirm();
      }
      return { meta, config };
    });
    return revision.meta;
  }

  /** Confirms a pending `commit confirmed`; returns the revision it kept, if any. */
  async confirm(): Promise<number | undefined> {
    return withFileLock(this.lockPath, () => {
      const pending = this.pendingConfirm();
      this.clearConfirm();
      return pending?.revision;
    });
  }

  /**
   * Reverts a pending `commit confirmed` whose deadline passed, or any pending one
   * when `restarted` is set (a restart before confirmation reverts: the change may
   * be what took the appliance down). The system service calls this (see
   * confirm-deadline.ts); the revert is a revision of its own, by user "system".
   */
  async revertUnconfirmed(restarted = false): Promise<Reversion | undefined> {
    return withFileLock(this.lockPath, () => {
      const pending = this.pendingConfirm();
      if (!pending || (!restarted && Date.parse(pending.deadline) > Date.now())) return undefined;
      const current = this.committed();
      const target = this.readRevisionFile(this.revisionPath(pending.revertTo));
      const why = restarted ? 'a restart came before confirmation' : `not confirmed by ${pending.deadline}`;
      const meta: RevisionMeta = {
        revision: current.meta.revision + 1,
        user: 'system',
        source: 'system',
        time: new Date().toISOString(),
        comment: `commit confirmed of revision ${pending.revision} reverted to revision ${pending.revertTo}: ${why}`,
      };
      this.write({ meta, config: target.config });
      this.clearConfirm();
      return { meta, undone: pending };
    });
  }

  /** At a service's start: drop the remains of a commit that died (revision files above the committed one). */
  dropRemainsOfDeadCommits(): void {
    const newest = this.committed().meta.revision;
    for (const file of readdirSync(this.revisionsDir)) {
      const n = Number.parseInt(file, 10);
      if (n > newest || file.startsWith('.')) rmSync(join(this.revisionsDir, file), { force: true });
    }
  }

  private merge(candidate: ApplianceConfig, baseRevision: number, current: Revision): ApplianceConfig {
    const base = this.revision(baseRevision).config;
    const merged = { ...current.config } as Record<string, unknown>;
    const conflicts: string[] = [];
    for (const section of sectionsOf(candidate)) {
      if (isDeepStrictEqual(candidate[section], base[section])) continue;
      if (!isDeepStrictEqual(current.config[section], base[section])) conflicts.push(section);
      merged[section] = candidate[section];
    }
    if (conflicts.length > 0) {
      throw new CommitConflictError(
        `commit refused: ${conflicts.join(', ')} changed in revision ${current.meta.revision} by ${current.meta.user} since your changes began (revision ${baseRevision}). ` +
          'Run `clear` to start from the new configuration, then make your changes again.',
      );
    }
    const context = 'commit refused: your changes and the ones committed meanwhile do not fit together';
    return verifyConfig(parseConfig(merged, context), context);
  }

  private write(revision: Revision): void {
    const text = `${JSON.stringify(revision, null, 2)}\n`;
    writeFileDurably(this.revisionPath(revision.meta.revision), text);
    writeFileDurably(this.committedPath, text);
  }

  private clearConfirm(): void {
    rmSync(this.confirmPath, { force: true });
  }

  private revisionPath(n: number): string {
    return join(this.revisionsDir, `${String(n).padStart(6, '0')}.json`);
  }

  private readRevisionFile(path: string): Revision {
    let raw: Revision;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8')) as Revision;
    } catch (err) {
      throw new ConfigError([(err as Error).message], `${path} cannot be read`);
    }
    try {
      return { meta: raw.meta, config: parseConfig(raw.config) };
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(err.problems, `${path} does not hold a valid configuration`);
      throw err;
    }
  }
}
