// A user's pending changes and the commits that make them the running configuration:
// the same operations for the console and the web, on the pending changes every session
// of the user shares (pending-store.ts). Every change is authorized here at once (a
// read-only role is refused before anything is kept), and judged again at commit by
// what it changes (src/os/config/authorization.ts, in the store).
import { configDiff } from '../os/config/candidate.js';
import type { ApplianceConfig, CommitSource } from '../os/config/schema.js';
import { maskSecretWords } from '../os/config/secrets.js';
import type { PendingConfirm, RevisionMeta } from '../os/config/store.js';
import { parseConfig } from '../os/config/validate.js';
import type { Runtime } from '../os/runtime.js';
import { isServiceRunning, reloadServicesFor } from '../os/service.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { deletePending, readPending, updatePending, withPendingLock } from './pending-store.js';
import { authorize } from './permissions.js';

export interface PendingChanges {
  pending: boolean;
  /** The revision the changes started from. */
  baseRevision: number;
  /** What the changes do, secrets masked; empty when nothing is pending. */
  diff: string;
}

export interface CommitOutcome {
  revision: number;
  /** Nothing was pending: the commit only confirmed a pending `commit confirmed`. */
  confirmedOnly: boolean;
  /** The services told to reload. */
  reloaded: string[];
  confirmMinutes?: number;
  /** Set when nothing would revert an unconfirmed commit at its deadline. */
  revertWarning?: string;
}

export function pendingChanges(runtime: Runtime, actor: Actor): PendingChanges {
  authorize(actor, 'read');
  const state = readPending(runtime, actor.user);
  return {
    pending: state.pending,
    baseRevision: state.baseRevision,
    diff: state.pending ? configDiff(state.base, state.config, `revision ${state.baseRevision}`, 'candidate') : '',
  };
}

/** The user's pending configuration, or the committed one when nothing is pending. Secrets are not masked: mask before showing. */
export function candidateConfig(runtime: Runtime, actor: Actor): ApplianceConfig {
  authorize(actor, 'read');
  return readPending(runtime, actor.user).config;
}

/**
 * Applies `change` to a copy of the user's pending configuration, validates the whole
 * result (shape and names) and keeps it only if valid. In FIPS management mode the
 * front end commits after each accepted change (commitChanges with actor.fipsMode).
 */
export function editChanges(runtime: Runtime, actor: Actor, change: (draft: ApplianceConfig) => void): void {
  authorize(actor, 'edit');
  updatePending(runtime, actor.user, ({ config }) => {
    change(config);
    return { config: parseConfig(config, 'the change was not made'), result: undefined };
  });
}

/** Like editChanges, returning what `change` returns. */
export function editChangesWith<T>(runtime: Runtime, actor: Actor, change: (draft: ApplianceConfig) => T): T {
  authorize(actor, 'edit');
  return updatePending(runtime, actor.user, ({ config }) => {
    const result = change(config);
    return { config: parseConfig(config, 'the change was not made'), result };
  });
}

function commitSource(actor: Actor): CommitSource {
  return actor.fipsMode ? 'fips-auto' : actor.source;
}

export async function commitChanges(runtime: Runtime, actor: Actor, options: { comment?: string; confirmMinutes?: number } = {}): Promise<CommitOutcome> {
  authorize(actor, 'commit');
  const { confirmMinutes } = options;
  if (confirmMinutes !== undefined && (!Number.isInteger(confirmMinutes) || confirmMinutes < 1)) {
    throw new AdminError(`commit confirmed needs a whole number of minutes of at least 1, not ${confirmMinutes}`, 'invalid');
  }
  const meta = await withPendingLock(runtime, actor.user, async () => {
    const state = readPending(runtime, actor.user);
    if (!state.pending) return undefined;
    const committed = await runtime.store.commit(state.config, {
      user: actor.user,
      source: commitSource(actor),
      ...(actor.from ? { from: actor.from } : {}),
      role: actor.role,
      comment: options.comment ?? '',
      baseRevision: state.baseRevision,
      ...(confirmMinutes === undefined ? {} : { confirmMinutes }),
    });
    deletePending(runtime, actor.user);
    return committed;
  });
  if (!meta) {
    // Nothing pending: a plain commit confirms a pending `commit confirmed`, as any later commit does.
    const confirmed = await runtime.store.confirm();
    if (confirmed === undefined) throw new AdminError('There are no changes to commit.', 'invalid');
    return { revision: confirmed, confirmedOnly: true, reloaded: [] };
  }
  runtime.refresh();
  const reloaded = reloadServicesFor(runtime, meta.revision);
  const outcome: CommitOutcome = { revision: meta.revision, confirmedOnly: false, reloaded };
  if (confirmMinutes !== undefined) {
    outcome.confirmMinutes = confirmMinutes;
    if (!isServiceRunning(runtime.paths.run, 'system')) {
      outcome.revertWarning = 'the system service is not running: nothing reverts this commit at its deadline until it starts (a start reverts it)';
    }
  }
  return outcome;
}

/** Confirms a pending `commit confirmed`; the revision it kept, if any. */
export async function confirmCommit(runtime: Runtime, actor: Actor): Promise<number | undefined> {
  authorize(actor, 'commit');
  return runtime.store.confirm();
}

export function pendingConfirmation(runtime: Runtime): PendingConfirm | undefined {
  return runtime.store.pendingConfirm();
}

/** Discards the user's pending changes; whether there were any. */
export function clearChanges(runtime: Runtime, actor: Actor): boolean {
  authorize(actor, 'edit');
  return updatePending(runtime, actor.user, ({ pending }) => ({ config: runtime.store.committed().config, result: pending }));
}

/** Loads revision `revision` into the user's pending changes (commit makes it the running configuration). */
export function rollbackTo(runtime: Runtime, actor: Actor, revision: number): RevisionMeta {
  authorize(actor, 'edit');
  const target = runtime.store.revision(revision);
  updatePending(runtime, actor.user, () => ({ config: structuredClone(target.config), result: undefined }));
  return target.meta;
}

/** The committed revisions, newest first, their comments secret-masked. */
export function commitHistory(runtime: Runtime, actor: Actor, count = 20): RevisionMeta[] {
  authorize(actor, 'read');
  return runtime.store.history(count).map((meta) => ({ ...meta, comment: maskSecretWords(meta.comment) }));
}

/** What revision `revision` changed from the one before it, secrets masked. */
export function revisionDiff(runtime: Runtime, actor: Actor, revision: number): string {
  authorize(actor, 'read');
  const after = runtime.store.revision(revision);
  const before = revision > 1 ? runtime.store.revision(revision - 1).config : after.config;
  return configDiff(before, after.config, `revision ${revision - 1}`, `revision ${revision}`);
}
