import t from 'tap';
import { adminOnlyAreas, commitRefusal, lesserRole, type Role, roleOf } from '../../src/os/config/authorization.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { sampleConfig } from '../helpers/configs.js';

const hash = 'scrypt$16384$8$1$c2FsdA==$aGFzaA==';
const account = (name: string, role: Role) => ({ name, fullName: '', role, passwordHash: hash, sshPublicKeys: [] as string[] });

/** The sample configuration with an admin, an operator and a read-only account. */
function withAccounts(): ApplianceConfig {
  return parseConfig({ ...sampleConfig(), users: [account('root1', 'admin'), account('op1', 'operator'), account('ro1', 'read-only')] });
}

type Change = (c: ApplianceConfig) => void;
const cliLogs = (c: ApplianceConfig) => c.logs.subscriptions.find((s) => s.name === 'cli_logs')!;

const changes: Record<string, Change> = {
  'listener port': (c) => {
    c.listeners[0]!.port = 2588;
  },
  'LDAP bind password': (c) => {
    c.ldap.servers[0]!.bindPassword = 'new-secret';
  },
  'host name': (c) => {
    c.system.hostname = 'other.example.com';
  },
  'mail log level': (c) => {
    c.logs.subscriptions.find((s) => s.name === 'mail_logs')!.level = 'warning';
  },
  'a new admin account': (c) => {
    c.users.push(account('mallory', 'admin'));
  },
  'own role to admin': (c) => {
    c.users.find((u) => u.name === 'op1')!.role = 'admin';
  },
  "an admin's SSH key": (c) => {
    c.users.find((u) => u.name === 'root1')!.sshPublicKeys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO attacker'];
  },
  'every account removed': (c) => {
    c.users = [];
  },
  'Officer password length': (c) => {
    c.hsm.officerPasswordMinLength = 8;
  },
  'PKCS#11 module': (c) => {
    c.hsm.modulePath = '/tmp/evil.so';
  },
  'cli_logs deleted': (c) => {
    c.logs.subscriptions = c.logs.subscriptions.filter((s) => s.name !== 'cli_logs');
  },
  'cli_logs renamed': (c) => {
    cliLogs(c).name = 'elsewhere';
  },
  'cli_logs silenced (level critical)': (c) => {
    cliLogs(c).level = 'critical';
  },
  'cli_logs shrunk to one small file': (c) => {
    cliLogs(c).maxFiles = 1;
    cliLogs(c).maxFileBytes = 1024;
  },
  'cli_logs retyped to mail': (c) => {
    cliLogs(c).type = 'mail';
  },
  'authentication log deleted': (c) => {
    c.logs.subscriptions = c.logs.subscriptions.filter((s) => s.type !== 'authentication');
  },
  'SSH idle timeout raised': (c) => {
    c.system.sshIdleTimeoutSeconds = 86400;
  },
  'alert recipient removed': (c) => {
    c.alerts.recipients = [];
  },
};

// role → change → refused (a pattern) or allowed (undefined)
const table: [string, Record<Role, RegExp | undefined>][] = [
  ['listener port', { admin: undefined, operator: undefined, 'read-only': /read-only/ }],
  ['LDAP bind password', { admin: undefined, operator: undefined, 'read-only': /read-only/ }],
  ['host name', { admin: undefined, operator: undefined, 'read-only': /read-only/ }],
  ['mail log level', { admin: undefined, operator: undefined, 'read-only': /read-only/ }],
  ['a new admin account', { admin: undefined, operator: /operator.*user accounts/, 'read-only': /read-only/ }],
  ['own role to admin', { admin: undefined, operator: /user accounts/, 'read-only': /read-only/ }],
  ["an admin's SSH key", { admin: undefined, operator: /user accounts/, 'read-only': /read-only/ }],
  ['every account removed', { admin: /removes every account/, operator: /user accounts/, 'read-only': /read-only/ }],
  ['Officer password length', { admin: undefined, operator: /HSM and FIPS Officer/, 'read-only': /read-only/ }],
  ['PKCS#11 module', { admin: undefined, operator: /HSM and FIPS Officer/, 'read-only': /read-only/ }],
  ['cli_logs deleted', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['cli_logs renamed', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['cli_logs silenced (level critical)', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['cli_logs shrunk to one small file', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['cli_logs retyped to mail', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['authentication log deleted', { admin: undefined, operator: /audit trail/, 'read-only': /read-only/ }],
  ['SSH idle timeout raised', { admin: undefined, operator: /idle timeouts/, 'read-only': /read-only/ }],
  ['alert recipient removed', { admin: undefined, operator: /alert settings/, 'read-only': /read-only/ }],
];

t.test('a commit is judged by what it changes, for each role', async (t) => {
  t.equal(table.length, Object.keys(changes).length, 'every change is in the table');
  for (const [name, expected] of table) {
    const before = withAccounts();
    before.alerts.recipients = [{ address: 'officer@example.com', severities: ['critical'] }];
    const after = structuredClone(before);
    changes[name]!(after);
    for (const role of ['admin', 'operator', 'read-only'] as Role[]) {
      const refusal = commitRefusal(before, after, role);
      const want = expected[role];
      if (want) t.match(refusal, want, `${role}: ${name} is refused`);
      else t.equal(refusal, undefined, `${role}: ${name} is allowed`);
      if (refusal) t.match(refusal, /^commit refused, nothing was changed: /);
    }
  }
});

t.test('an operator is told every admin-only area the commit touches at once', async (t) => {
  const before = withAccounts();
  const after = structuredClone(before);
  changes['a new admin account']!(after);
  changes['cli_logs deleted']!(after);
  changes['listener port']!(after);
  const refusal = commitRefusal(before, after, 'operator') ?? '';
  t.match(refusal, /user accounts.*; the audit trail/);
  t.match(refusal, /"clear" to discard them/);
  t.equal(adminOnlyAreas.length, 5);
});

t.test('no commit leaves accounts without an admin, nor goes back to no account at all', async (t) => {
  const before = withAccounts();
  const demoted = structuredClone(before);
  demoted.users.find((u) => u.name === 'root1')!.role = 'operator';
  t.match(commitRefusal(before, demoted, 'admin'), /no admin account/, 'the last admin demoting itself');
  const deleted = structuredClone(before);
  deleted.users = deleted.users.filter((u) => u.name !== 'root1');
  t.match(commitRefusal(before, deleted, 'admin'), /no admin account/, 'the last admin deleted');
  const second = structuredClone(before);
  second.users.push(account('root2', 'admin'));
  const withTwo = structuredClone(second);
  withTwo.users = withTwo.users.filter((u) => u.name !== 'root1');
  t.equal(commitRefusal(second, withTwo, 'admin'), undefined, 'one admin of two may go');

  const factory = parseConfig(sampleConfig());
  t.equal(roleOf(factory, 'anyone'), 'admin', 'with no account every login is an admin');
  const onlyOperator = structuredClone(factory);
  onlyOperator.users.push(account('op1', 'operator'));
  t.match(commitRefusal(factory, onlyOperator, 'admin'), /no admin account/, 'the first accounts must include an admin');
  const firstAdmin = structuredClone(factory);
  firstAdmin.users.push(account('root1', 'admin'));
  t.equal(commitRefusal(factory, firstAdmin, 'admin'), undefined);
  t.match(commitRefusal(before, factory, 'operator'), /user accounts/, 'an operator cannot bring back the factory state (rollback 1)');
  t.match(commitRefusal(before, factory, 'admin'), /removes every account/, 'nor can an admin');
});

t.test('nothing changed is never refused; roles of names and the lesser of two roles', async (t) => {
  const c = withAccounts();
  t.equal(commitRefusal(c, structuredClone(c), 'read-only'), undefined);
  t.equal(roleOf(c, 'op1'), 'operator');
  t.equal(roleOf(c, 'stranger'), 'read-only', 'once accounts exist a name that is not one is read-only');
  t.equal(lesserRole('admin', 'operator'), 'operator');
  t.equal(lesserRole('read-only', 'admin'), 'read-only');
});
