// Where the configuration stands for one user: the running revision (who committed it,
// when, from where), whether the user has pending changes, and a `commit confirmed`
// awaiting confirmation with its deadline.
import type { PendingConfirm, RevisionMeta } from '../os/config/store.js';
import type { Runtime } from '../os/runtime.js';
import { isServiceRunning } from '../os/service.js';
import type { Actor } from './actor.js';
import { pendingChanges, pendingConfirmation } from './changes.js';
import { authorize } from './permissions.js';

export interface ConfigurationStatus {
  hostname: string;
  running: RevisionMeta;
  /** The acting user has changes not yet committed. */
  pending: boolean;
  awaitingConfirmation?: PendingConfirm & {
    /** The deadline has passed and the system service, which reverts it, is not running. */
    overdue: boolean;
  };
}

export function configurationStatus(runtime: Runtime, actor: Actor): ConfigurationStatus {
  authorize(actor, 'read');
  const committed = runtime.store.committed();
  const confirm = pendingConfirmation(runtime);
  return {
    hostname: committed.config.system.hostname,
    running: committed.meta,
    pending: pendingChanges(runtime, actor).pending,
    ...(confirm ? { awaitingConfirmation: { ...confirm, overdue: Date.parse(confirm.deadline) < Date.now() && !isServiceRunning(runtime.paths.run, 'system') } } : {}),
  };
}
