// Message tracking (findevent): every mail log line of the messages a query
// names, by MID, sender, recipient or subject, in the order they were logged.
import { type FindQuery, findEvents } from '../mail/findevent/findevent.js';
import { textOfLogLine } from '../mail/mail-log.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type TrackingQuery = FindQuery;

export interface TrackedEvent {
  /** The time as the log line gives it ("Fri Dec  4 12:00:01 2026"). */
  time: string;
  /** The event without its time and level. */
  text: string;
  /** The whole log line, as findevent prints it. */
  line: string;
}

/** The query with exactly one way of finding messages, its value checked. */
function checkedQuery(query: TrackingQuery): TrackingQuery {
  const given = (['mid', 'sender', 'recipient', 'subject'] as const).filter((k) => query[k] !== undefined && query[k] !== '');
  if (given.length !== 1) throw new AdminError('search by one of: MID, sender, recipient or subject', 'invalid');
  if (query.mid !== undefined && !(Number.isInteger(query.mid) && query.mid > 0)) throw new AdminError('a MID is a whole number', 'invalid');
  if ((query.sender ?? query.recipient ?? 'a@b').length > 320) throw new AdminError('an address has at most 320 characters', 'invalid');
  if ((query.subject ?? '').length > 200) throw new AdminError('search for at most 200 characters of a subject', 'invalid');
  return query;
}

/** The events of the messages found, oldest first; `subscription` names a mail log other than the first one. */
export async function findMessageEvents(runtime: Runtime, actor: Actor, query: TrackingQuery, subscription?: string): Promise<TrackedEvent[]> {
  authorize(actor, 'read');
  const checked = checkedQuery(query);
  const log = runtime.config.logs.subscriptions.find((s) => (subscription ? s.name === subscription : s.type === 'mail'));
  if (!log) throw new AdminError(subscription ? `no log subscription "${subscription}"` : 'no mail log subscription to search', 'not-found');
  const lines = await findEvents(`${runtime.paths.logs}/${log.name}`, log.name, checked);
  return lines.map((line) => {
    const text = textOfLogLine(line);
    return { time: line.slice(0, line.length - text.length).replace(/ \w+: $/, ''), text, line };
  });
}
