// The mail queue: counts, list and show read the spool; delete, bounce and flush
// leave a request that the delivery service applies (src/mail/delivery/requests.ts).
import { QueueCommands, type QueueEntry } from '../mail/delivery/queue-commands.js';
import { type QueueState, queueStates } from '../mail/delivery/queue-store.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type { QueueEntry, QueueState };
export { queueStates };

/** Which messages a delete or bounce acts on: one MID, or every message to one recipient. */
export type QueueTarget = { mid: number } | { recipient: string };

const queue = (runtime: Runtime) => new QueueCommands(runtime.paths.spool);

function checkedTarget(target: QueueTarget): QueueTarget {
  if ('mid' in target && Number.isInteger(target.mid) && target.mid > 0) return { mid: target.mid };
  if ('recipient' in target && /^[^\s@]+@[^\s@]+$/.test(target.recipient)) return { recipient: target.recipient };
  throw new AdminError('name the messages: a MID (a whole number), or a recipient address', 'invalid');
}

export function queueCounts(runtime: Runtime, actor: Actor): Record<QueueState, number> {
  authorize(actor, 'read');
  return queue(runtime).count();
}

export async function queueList(runtime: Runtime, actor: Actor, state?: QueueState): Promise<QueueEntry[]> {
  authorize(actor, 'read');
  if (state !== undefined && !queueStates.includes(state)) throw new AdminError(`the queue states are ${queueStates.join(', ')}`, 'invalid');
  return queue(runtime).list(state);
}

export async function queueShow(runtime: Runtime, actor: Actor, mid: number): Promise<QueueEntry> {
  authorize(actor, 'read');
  const entry = Number.isInteger(mid) && mid > 0 ? await queue(runtime).show(mid) : undefined;
  if (!entry) throw new AdminError(`no message with MID ${Number.isFinite(mid) ? mid : ''} in the queue`, 'not-found');
  return entry;
}

export function queueDelete(runtime: Runtime, actor: Actor, target: QueueTarget): void {
  authorize(actor, 'queue');
  queue(runtime).delete(checkedTarget(target));
}

export function queueBounce(runtime: Runtime, actor: Actor, target: QueueTarget): void {
  authorize(actor, 'queue');
  queue(runtime).bounce(checkedTarget(target));
}

export function queueFlush(runtime: Runtime, actor: Actor): void {
  authorize(actor, 'queue');
  queue(runtime).flush();
}
