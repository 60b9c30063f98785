// What each role may do at the console that is NOT a configuration change.
// Configuration changes are judged at commit by what they change
// (src/os/config/authorization.ts): an operator may edit a user account in the
// candidate, and the commit refuses it; so do `rollback` and `loadconfig`.
// What is left here are operations that never go through a commit:
//   admin      FIPS management mode (Officer operations, keys, backups), upgrades
//   operator   reboot, shutdown, the mail queue, saving the configuration to a file with its
//              secrets masked (with secrets=encrypted the operator would choose the passphrase
//              and so read the bind passwords and the admins' password hashes: admins only)
//   read-only  looks only: status, history, diff, list, show… A read-only user could
//              never commit, so a command that changes something is refused at once
//              rather than after the user has typed the change.
import { type Role, roleOf } from '../os/config/authorization.js';

export { type Role, roleOf };

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
/** Commands that change something; `commit` also confirms a pending `commit confirmed`, `saveconfig` writes a file. */
const changingCommands = new Set(['commit', 'clear', 'rollback', 'loadconfig', 'saveconfig', 'fipsconfig', 'reboot', 'shutdown', 'upgrade']);
/** Operations on the HSM and the firmware: admins only, whatever the configuration says. */
const adminOnlyCommands = new Set(['fipsconfig', 'upgrade']);

function changes(command: string, args: string[]): boolean {
  return changingCommands.has(command) || args.some((word) => changingVerbs.has(word));
}

/** Why `role` may not run this command line, or undefined when it may (a configuration change is judged again at commit). */
export function refusal(role: Role, command: string, args: string[]): string | undefined {
  if (role === 'admin') return undefined;
  if (role === 'read-only' && changes(command, args)) return `your role (read-only) may look but not change anything; "${command}" needs an operator or admin`;
  if (role === 'operator' && adminOnlyCommands.has(command)) return `your role (operator) may not use ${command}; it needs an admin`;
  if (role === 'operator' && command === 'saveconfig' && args.some((a) => a.startsWith('secrets=') && a !== 'secrets=masked')) {
    return 'your role (operator) may save the configuration with its secrets masked only; secrets=encrypted needs an admin';
  }
  return undefined;
}
