// What each administrator role may do at the console:
//   admin      everything, and FIPS management mode on top with the Officer password
//   operator   everything but user accounts and FIPS management mode
//   read-only  looks only: status, history, diff, list, show…
// A login that is not a configured account is an admin only while no account exists
// (a fresh appliance); once accounts exist, it is read-only.
import type { ApplianceConfig } from '../os/config/schema.js';

export type Role = ApplianceConfig['users'][number]['role'];

const changingVerbs = new Set([
  'bounce',
  'flush',
  'new',
  'edit',
  'rename',
  'delete',
  'password',
  'setup',
  'init',
  'keygen',
  'csr',
  'selfsign',
  'import',
  'dkimkey',
  'backup',
  'restore',
]);
const changingCommands = new Set(['commit', 'clear', 'rollback', 'loadconfig', 'saveconfig', 'fipsconfig', 'reboot', 'shutdown', 'upgrade']);

export function roleOf(config: ApplianceConfig, user: string): Role {
  const account = config.users.find((u) => u.name === user);
  if (account) return account.role;
  return config.users.length === 0 ? 'admin' : 'read-only';
}

function changes(command: string, args: string[]): boolean {
  return changingCommands.has(command) || args.some((word) => changingVerbs.has(word));
}

/** Why `role` may not run this command line, or undefined when it may. */
export function refusal(role: Role, command: string, args: string[]): string | undefined {
  if (role === 'admin') return undefined;
  if (role === 'read-only' && changes(command, args)) return `your role (read-only) may look but not change anything; "${command}" needs an operator or admin`;
  if (role === 'operator' && (command === 'fipsconfig' || command === 'upgrade' || (command === 'userconfig' && changes(command, args)))) {
    return `your role (operator) may not use ${command}; it needs an admin`;
  }
  return undefined;
}
