// The areas of settings, as data both front ends use: where each list lives in the
// configuration, what names an item, what a new one starts with, and the fields typed
// as text that need a parser of their own. The console's commands and the web's pages
// are built from these.
import type { ReferenceKindName } from '../os/config/references.js';
import { type ApplianceConfig, logTypes } from '../os/config/schema.js';
import { AdminError } from './errors.js';
import type { FieldParsers } from './schema-fields.js';

export type Item = Record<string, unknown>;

export type AreaId =
  | 'listeners'
  | 'policies'
  | 'hat'
  | 'ldap-servers'
  | 'ldap-queries'
  | 'smtp-auth-profiles'
  | 'crl-sources'
  | 'trusted-cas'
  | 'distrusted-cas'
  | 'routes'
  | 'dkim-profiles'
  | 'log-subscriptions'
  | 'alert-recipients'
  | 'users'
  | 'interfaces';

export type SettingsMenu = 'Network' | 'System Administration' | 'Mail Policies' | 'Security Services';

export interface SettingsArea {
  id: AreaId;
  /** What one item is called, e.g. "listener". */
  label: string;
  menu: SettingsMenu;
  /** The page's title, e.g. "Listeners". */
  title: string;
  /** The field that names an item. */
  key: string;
  /** The reference kind, for rename and delete; without one, rename and delete act on the list alone. */
  kind?: ReferenceKindName;
  /** Whether the list is nested under a listener (its policies and sender groups); `scope` names the listener. */
  scoped?: boolean;
  /** The field a new item's variant sets (the type of an LDAP query), and its values. */
  variant?: string;
  variants?: string[];
  /** Where the list is in the configuration. */
  path(config: ApplianceConfig, scope: string | undefined): (string | number)[];
  /** The fields of a new item before the user's values. */
  template?(name: string, config: ApplianceConfig, scope: string | undefined, variant: string | undefined): Item;
  /** Parsers for fields typed as text that are not plain values (a schedule, a host list). */
  parsers?: FieldParsers;
  /** What to tell the user once a new item is added (what it does not do yet). */
  afterNew?(name: string, item: Item): string | undefined;
}

function scopeIndex(config: ApplianceConfig, scope: string | undefined): number {
  const index = config.listeners.findIndex((l) => l.name === scope);
  if (index < 0) throw new AdminError(`there is no listener named "${scope ?? ''}"`, 'not-found');
  return index;
}

const inListener = (rest: (string | number)[]) => (config: ApplianceConfig, scope: string | undefined) => ['listeners', scopeIndex(config, scope), ...rest];

export const schedule = (text: string) => {
  const [kind, ...rest] = text.split(/[:@](?=.)/);
  if (kind === 'hourly') return { kind, minute: Number(rest[0] ?? 0) };
  if (kind === 'daily') return { kind, time: rest.join(':') };
  if (kind === 'weekly') return { kind, day: rest[0], time: rest.slice(1).join(':') };
  if (kind === 'cron') return { kind, expression: text.slice('cron:'.length) };
  throw new AdminError('schedule must be hourly:MM, daily:HH:MM, weekly:DAY:HH:MM or cron:EXPRESSION');
};

const customResponse = (text: string) => {
  const match = /^(\d{3})[: ](.+)$/.exec(text.trim());
  if (!match) throw new AdminError('customResponse is CODE:TEXT, for example "525:Dear user, please use your CAC to send email."');
  return { code: Number(match[1]), text: match[2]!.trim() };
};

const hostList = (text: string) =>
  text.split(',').map((entry) => {
    const [host, port, priority] = entry.trim().split(':');
    return { host: host ?? '', port: port ? Number(port) : 25, priority: priority ? Number(priority) : 0 };
  });

function listenerTemplate(name: string, config: ApplianceConfig, _scope: string | undefined, type: string | undefined): Item {
  const base = { address: '0.0.0.0', port: type === 'private' ? 587 : 25, hostname: config.system.hostname, defaultPolicy: 'DEFAULT' };
  const policy = { connection: 'accept', maxMessageBytes: 10 * 1024 * 1024, maxRecipientsPerMessage: 100, maxMessagesPerConnection: 10, tls: 'preferred', smtpAuth: 'off' };
  if (type === 'private') {
    return {
      ...base,
      type,
      policies: [
        { name: 'DEFAULT', ...policy, connection: 'reject' },
        { name: 'RELAYED', connection: 'relay' },
      ],
      hostAccessTable: [{ name: 'RELAYLIST', entries: [], policy: 'RELAYED' }],
    };
  }
  return {
    ...base,
    type: 'public',
    policies: [
      { name: 'DEFAULT', ...policy },
      { name: 'BLOCKED', connection: 'reject' },
      { name: 'TRUSTED', connection: 'accept', maxRecipientsPerMessage: 1000 },
    ],
    hostAccessTable: [
      { name: 'BLOCKLIST', entries: [], policy: 'BLOCKED' },
      { name: 'ALLOWLIST', entries: [], policy: 'TRUSTED' },
      { name: 'SUSPECTLIST', entries: [], policy: 'DEFAULT' },
      { name: 'UNKNOWNLIST', entries: [], policy: 'DEFAULT' },
    ],
    name,
  };
}

/** A new private listener relays for nobody until its RELAYLIST has entries: say so, and how. */
function explainRelaying(name: string, listener: Item): string | undefined {
  if (listener.type !== 'private') return undefined;
  return (
    `Listener "${name}" relays only for the addresses in its RELAYLIST sender group (policy RELAYED), which is empty: nothing relays until you add them, ` +
    `for example: listenerconfig hat ${name} edit RELAYLIST entries=192.0.2.0/24`
  );
}

export const settingsAreas: Record<AreaId, SettingsArea> = {
  listeners: {
    id: 'listeners',
    label: 'listener',
    menu: 'Network',
    title: 'Listeners',
    key: 'name',
    kind: 'listener',
    path: () => ['listeners'],
    template: listenerTemplate,
    variant: 'type',
    variants: ['public', 'private'],
    afterNew: explainRelaying,
  },
  policies: {
    id: 'policies',
    label: 'mail flow policy',
    menu: 'Mail Policies',
    title: 'Mail Flow Policies',
    key: 'name',
    kind: 'mail-flow-policy',
    scoped: true,
    path: inListener(['policies']),
  },
  hat: { id: 'hat', label: 'sender group', menu: 'Mail Policies', title: 'Host Access Table (HAT) Overview', key: 'name', scoped: true, path: inListener(['hostAccessTable']) },
  'ldap-servers': {
    id: 'ldap-servers',
    label: 'LDAP server profile',
    menu: 'System Administration',
    title: 'LDAP Server Profiles',
    key: 'name',
    kind: 'ldap-server',
    path: () => ['ldap', 'servers'],
  },
  'ldap-queries': {
    id: 'ldap-queries',
    label: 'LDAP query',
    menu: 'System Administration',
    title: 'LDAP Queries',
    key: 'name',
    kind: 'ldap-query',
    path: () => ['ldap', 'queries'],
    variant: 'type',
    variants: ['certificate', 'smtp-auth'],
  },
  'smtp-auth-profiles': {
    id: 'smtp-auth-profiles',
    label: 'SMTP authentication profile',
    menu: 'Network',
    title: 'SMTP Authentication',
    key: 'name',
    kind: 'smtp-auth-profile',
    path: () => ['smtpAuth', 'profiles'],
    variant: 'type',
    variants: ['ldap', 'certificate'],
    parsers: { customResponse },
  },
  'crl-sources': {
    id: 'crl-sources',
    label: 'CRL source',
    menu: 'Security Services',
    title: 'CRL Sources',
    key: 'name',
    kind: 'crl-source',
    path: () => ['crl', 'sources'],
    parsers: { schedule },
  },
  'trusted-cas': {
    id: 'trusted-cas',
    label: 'trusted CA',
    menu: 'Network',
    title: 'Certificate Authorities',
    key: 'name',
    kind: 'trusted-ca',
    path: () => ['certificates', 'trustStore'],
  },
  'distrusted-cas': {
    id: 'distrusted-cas',
    label: 'distrusted CA',
    menu: 'Network',
    title: 'Distrusted Certificate Authorities',
    key: 'name',
    path: () => ['certificates', 'distrusted'],
  },
  routes: { id: 'routes', label: 'SMTP route', menu: 'Network', title: 'SMTP Routes', key: 'domain', path: () => ['routes', 'smtpRoutes'], parsers: { hosts: hostList } },
  'dkim-profiles': {
    id: 'dkim-profiles',
    label: 'DKIM signing profile',
    menu: 'Mail Policies',
    title: 'DKIM Signing Profiles',
    key: 'name',
    kind: 'dkim-profile',
    path: () => ['dkim', 'profiles'],
  },
  'log-subscriptions': {
    id: 'log-subscriptions',
    label: 'log subscription',
    menu: 'System Administration',
    title: 'Log Subscriptions',
    key: 'name',
    kind: 'log-subscription',
    path: () => ['logs', 'subscriptions'],
    variant: 'type',
    variants: [...logTypes],
  },
  'alert-recipients': { id: 'alert-recipients', label: 'alert recipient', menu: 'System Administration', title: 'Alerts', key: 'address', path: () => ['alerts', 'recipients'] },
  users: { id: 'users', label: 'user', menu: 'System Administration', title: 'Users', key: 'name', path: () => ['users'] },
  interfaces: { id: 'interfaces', label: 'interface', menu: 'Network', title: 'IP Interfaces', key: 'name', path: () => ['network', 'interfaces'] },
};

export type GroupId = 'system' | 'crl' | 'alerts';

/** The settings that are one group rather than a list: the section of the configuration each edits. */
export interface SettingsGroup {
  id: GroupId;
  section: 'system' | 'crl' | 'alerts';
  menu: SettingsMenu;
  title: string;
  parsers?: FieldParsers;
}

export const settingsGroups: Record<GroupId, SettingsGroup> = {
  system: { id: 'system', section: 'system', menu: 'System Administration', title: 'System Settings' },
  crl: { id: 'crl', section: 'crl', menu: 'Security Services', title: 'CRL Checking' },
  alerts: { id: 'alerts', section: 'alerts', menu: 'System Administration', title: 'Alert Settings' },
};
