// Who may commit what, judged by what a commit changes (the running configuration
// before it and after it), never by the command that led to it: an edit, a
// `rollback N`, a `loadconfig`, a web form all fill a candidate, and the commit
// judges the difference. ConfigStore.commit calls `commitRefusal` under the commit
// lock, so every front end gets the same rule.
//
// Roles:
//   admin      everything;
//   operator   everything except what grants or watches power (adminOnlyAreas below);
//   read-only  no commit at all.
// Whoever the commit is by, it may not leave accounts without an admin, nor remove
// every account: with no account every login is an admin (a fresh appliance), so
// going back there would hand the appliance to anyone who can reach the console.
import { isDeepStrictEqual } from 'node:util';
import type { ApplianceConfig, LogType } from './schema.js';

export type Role = ApplianceConfig['users'][number]['role'];

const rank: Record<Role, number> = { 'read-only': 0, operator: 1, admin: 2 };

/** The role a login name has in `config`. With no account at all (a fresh appliance) every login is an admin; once accounts exist, a name that is not one is read-only. */
export function roleOf(config: Pick<ApplianceConfig, 'users'>, user: string): Role {
  const account = config.users.find((u) => u.name === user);
  if (account) return account.role;
  return config.users.length === 0 ? 'admin' : 'read-only';
}

/** The lesser of two roles: a front end's session never gets more than the committed configuration gives the account now. */
export function lesserRole(a: Role, b: Role): Role {
  return rank[a] <= rank[b] ? a : b;
}

/**
 * Log types that make the audit trail: the commands typed (cli-audit), logins
 * (authentication) and FIPS Officer operations (fips). An operator may not delete,
 * rename (the name is the folder the file goes to), re-level, shrink or add one.
 */
export const auditLogTypes: readonly LogType[] = ['cli-audit', 'authentication', 'fips'];

const auditSubscriptions = (c: ApplianceConfig) =>
  c.logs.subscriptions.filter((s) => auditLogTypes.includes(s.type)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

interface AdminOnlyArea {
  what: string;
  changed(before: ApplianceConfig, after: ApplianceConfig): boolean;
}

/**
 * What only an admin may change, and why:
 * - accounts (roles, password hashes, SSH keys: the SSH access list) decide who has power;
 * - the HSM settings: the Officer's password rules, and the PKCS#11 module every service loads (code);
 * - the audit trail, which is how an admin sees what an operator did;
 * - the console idle timeouts, a control on unattended sessions;
 * - the alerts: who is told of security events (a wiped HSM, a replaced configuration) and from where.
 * Mail settings (listeners, policies, LDAP, SMTP authentication, CRLs, trusted CAs, routes, DKIM),
 * the network, host name, DNS/NTP and the other log subscriptions are an operator's work.
 */
export const adminOnlyAreas: readonly AdminOnlyArea[] = [
  { what: 'user accounts (roles, passwords, SSH keys)', changed: (b, a) => !isDeepStrictEqual(b.users, a.users) },
  { what: 'the HSM and FIPS Officer settings (hsm)', changed: (b, a) => !isDeepStrictEqual(b.hsm, a.hsm) },
  { what: `the audit trail (log subscriptions of type ${auditLogTypes.join(', ')})`, changed: (b, a) => !isDeepStrictEqual(auditSubscriptions(b), auditSubscriptions(a)) },
  {
    what: 'the console idle timeouts',
    changed: (b, a) => b.system.serialIdleTimeoutSeconds !== a.system.serialIdleTimeoutSeconds || b.system.sshIdleTimeoutSeconds !== a.system.sshIdleTimeoutSeconds,
  },
  { what: 'the alert settings (who is told of security events)', changed: (b, a) => !isDeepStrictEqual(b.alerts, a.alerts) },
];

/** Problems no commit may cause, whoever makes it. */
function accountProblem(before: ApplianceConfig, after: ApplianceConfig): string | undefined {
  if (after.users.length > 0 && !after.users.some((u) => u.role === 'admin')) {
    return 'it would leave accounts but no admin account, and no one could manage accounts or the HSM again: keep at least one admin account';
  }
  if (before.users.length > 0 && after.users.length === 0) {
    return 'it removes every account, and with no account every login is an admin: keep at least one admin account';
  }
  return undefined;
}

const refused = (why: string) => `commit refused, nothing was changed: ${why}.`;

/** Why `role` may not commit the change from `before` to `after`, or undefined when it may. */
export function commitRefusal(before: ApplianceConfig, after: ApplianceConfig, role: Role): string | undefined {
  if (isDeepStrictEqual(before, after)) return undefined;
  if (role === 'read-only') return refused('your role (read-only) may look but not change anything; a commit needs an operator or admin');
  if (role === 'operator') {
    const areas = adminOnlyAreas.filter((area) => area.changed(before, after)).map((area) => area.what);
    if (areas.length > 0) {
      return refused(`your role (operator) may not change ${areas.join('; ')}: that needs an admin. Run "diff" to see the changes, "clear" to discard them`);
    }
  }
  const problem = accountProblem(before, after);
  return problem ? refused(problem) : undefined;
}

export class CommitRefusedError extends Error {}
