// A user's pending changes, on disk so that every session of the user (web and
// console alike) sees and edits the same ones:
//   <state>/config/candidates/<user>.json = { baseRevision, config }   mode 0600
// No file, or one equal to the committed configuration, means nothing pending. Every
// change is a read-modify-write under the user's lock, so two sessions cannot lose
// each other's edit; every read goes to the file again.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileDurably } from '../os/atomic-file.js';
import { type ApplianceConfig, applianceConfigSchema } from '../os/config/schema.js';
import { parseConfig } from '../os/config/validate.js';
import { withFileLock, withFileLockSync } from '../os/file-lock.js';
import type { Runtime } from '../os/runtime.js';
import { AdminError } from './errors.js';

export interface PendingState {
  /** The revision the changes were started from (the committed one when nothing is pending). */
  baseRevision: number;
  /** The configuration of that revision, which `diff` compares with. */
  base: ApplianceConfig;
  /** The pending configuration (the committed one when nothing is pending). */
  config: ApplianceConfig;
  pending: boolean;
}

const userName = applianceConfigSchema.shape.users.unwrap().element.shape.name;

function candidatesDir(runtime: Runtime): string {
  return join(runtime.paths.config, 'candidates');
}

/** The user's pending-changes file; a name that is not a login name (a path, "..") is refused. */
export function pendingPath(runtime: Runtime, user: string): string {
  if (!userName.safeParse(user).success) {
    throw new AdminError(`"${user}" is not a login name (lower-case letters, digits, _ or -, at most 32): pending changes are kept only for login names`, 'invalid');
  }
  return join(candidatesDir(runtime), `${user}.json`);
}

/** The file's text, to tell whether it changed (a console session's own edits). */
export function pendingFileText(runtime: Runtime, user: string): string | undefined {
  const path = pendingPath(runtime, user);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

export function readPending(runtime: Runtime, user: string): PendingState {
  const committed = runtime.store.committed();
  const text = pendingFileText(runtime, user);
  if (text === undefined) return { baseRevision: committed.meta.revision, base: committed.config, config: structuredClone(committed.config), pending: false };
  let saved: { baseRevision: number; config: unknown };
  try {
    saved = JSON.parse(text) as { baseRevision: number; config: unknown };
  } catch (err) {
    throw new AdminError(
      `your pending changes (${pendingPath(runtime, user)}) cannot be read (${(err as Error).message}); run "clear" to start again from the committed configuration`,
      'unavailable',
    );
  }
  const config = parseConfig(saved.config, `your pending changes (${pendingPath(runtime, user)}) are not a valid configuration; run "clear" to start again`);
  let base: ApplianceConfig = committed.config;
  let baseRevision = committed.meta.revision;
  if (Number.isInteger(saved.baseRevision) && saved.baseRevision >= 1 && saved.baseRevision < committed.meta.revision) {
    try {
      base = runtime.store.revision(saved.baseRevision).config;
      baseRevision = saved.baseRevision;
    } catch {
      // The base revision is no longer kept: compare with (and merge onto) the committed one.
    }
  }
  const pending = !isDeepStrictEqual(config, committed.config) && !isDeepStrictEqual(config, base);
  return { baseRevision, base, config, pending };
}

function writePending(runtime: Runtime, user: string, state: { baseRevision: number; config: ApplianceConfig }): void {
  writeFileDurably(pendingPath(runtime, user), `${JSON.stringify({ baseRevision: state.baseRevision, config: state.config }, null, 2)}\n`, 0o600);
}

export function deletePending(runtime: Runtime, user: string): void {
  rmSync(pendingPath(runtime, user), { force: true });
}

function lockPath(runtime: Runtime, user: string): string {
  return `${pendingPath(runtime, user)}.lock`;
}

/**
 * Read-modify-write of the user's pending configuration under the user's lock:
 * `change` gets a copy and returns the new configuration (or throws, and nothing changes).
 * A result equal to the base or the committed configuration leaves nothing pending.
 */
export function updatePending<T>(runtime: Runtime, user: string, change: (state: PendingState) => { config: ApplianceConfig; result: T }): T {
  mkdirSync(candidatesDir(runtime), { recursive: true, mode: 0o700 });
  return withFileLockSync(lockPath(runtime, user), () => {
    const state = readPending(runtime, user);
    const { config, result } = change({ ...state, config: structuredClone(state.config) });
    const committed = runtime.store.committed().config;
    if (isDeepStrictEqual(config, committed) || isDeepStrictEqual(config, state.base)) deletePending(runtime, user);
    else writePending(runtime, user, { baseRevision: state.baseRevision, config });
    return result;
  });
}

/** Runs `work` (a commit) under the user's lock, so no session's edit lands between the commit and the file's removal. */
export function withPendingLock<T>(runtime: Runtime, user: string, work: () => Promise<T>): Promise<T> {
  mkdirSync(candidatesDir(runtime), { recursive: true, mode: 0o700 });
  return withFileLock(lockPath(runtime, user), work);
}
