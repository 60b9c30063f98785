// What a role may do that is not a configuration change, judged by the effect of
// the operation, never by the words that asked for it. Configuration changes are
// judged at commit by what they change (src/os/config/authorization.ts).
//   read-only  looks only
//   operator   also the mail queue, a CRL download now, a directory password checked by Test Query, reboot and shutdown, a configuration file with its secrets masked
//   admin      also the HSM and FIPS Officer operations, upgrades, a file with its secrets encrypted
//              (whoever chooses the passphrase can read every bind password and password hash)
import type { Role } from '../os/config/authorization.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';

export type Effect = 'read' | 'edit' | 'commit' | 'queue' | 'fetch' | 'test-password' | 'power' | 'hsm' | 'upgrade' | 'export-masked' | 'export-encrypted';

const leastRole: Record<Effect, Role> = {
  read: 'read-only',
  edit: 'operator',
  commit: 'operator',
  queue: 'operator',
  fetch: 'operator',
  'test-password': 'operator',
  power: 'operator',
  'export-masked': 'operator',
  hsm: 'admin',
  upgrade: 'admin',
  'export-encrypted': 'admin',
};

const rank: Record<Role, number> = { 'read-only': 0, operator: 1, admin: 2 };

const what: Record<Effect, string> = {
  read: 'look',
  edit: 'change the configuration',
  commit: 'commit',
  queue: 'change the mail queue',
  fetch: 'download a CRL now',
  'test-password': 'check a directory password with Test Query',
  power: 'reboot or shut down the appliance',
  'export-masked': 'save the configuration to a file',
  hsm: 'use the HSM and FIPS Officer operations',
  upgrade: 'upgrade the firmware',
  'export-encrypted': 'save the configuration with its secrets encrypted',
};

/** Why `role` may not have this effect, or undefined when it may. */
export function refusal(role: Role, effect: Effect): string | undefined {
  const needed = leastRole[effect];
  if (rank[role] >= rank[needed]) return undefined;
  return `your role (${role}) may not ${what[effect]}: that needs ${needed === 'admin' ? 'an admin' : 'an operator or admin'}`;
}

export function authorize(actor: Pick<Actor, 'role'>, effect: Effect): void {
  const refused = refusal(actor.role, effect);
  if (refused) throw new AdminError(refused, 'forbidden');
}
