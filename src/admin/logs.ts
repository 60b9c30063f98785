// The last lines of a log subscription (`tail`), for the console and the web.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export const maxTailLines = 10_000;

export function logSubscriptionNames(runtime: Runtime, actor: Actor): string[] {
  authorize(actor, 'read');
  return runtime.config.logs.subscriptions.map((s) => s.name);
}

/** The last `lines` lines of the subscription's current file (none if it has not been written yet). */
export function tailLog(runtime: Runtime, actor: Actor, name: string, lines = 20): string[] {
  authorize(actor, 'read');
  const subscription = runtime.config.logs.subscriptions.find((s) => s.name === name);
  if (!subscription) throw new AdminError(`no log subscription "${name}"; subscriptions: ${runtime.config.logs.subscriptions.map((s) => s.name).join(', ')}`, 'not-found');
  if (!Number.isInteger(lines) || lines < 1 || lines > maxTailLines) throw new AdminError(`LINES is a whole number from 1 to ${maxTailLines}`, 'invalid');
  const file = join(runtime.paths.logs, subscription.name, `${subscription.name}.current`);
  const text = existsSync(file) ? readFileSync(file, 'utf8').trimEnd() : '';
  return text ? text.split('\n').slice(-lines) : [];
}
