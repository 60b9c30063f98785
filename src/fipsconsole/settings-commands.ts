// The console commands for each area of settings, in the appliance's words.
// Each is a list of named items (see collection.ts) or one group of settings.
import type { ApplianceConfig } from '../os/config/schema.js';
import { hashPassword, passwordProblems } from '../os/users.js';
import { authreport, ldapTest } from './auth-commands.js';
import { collectionCommand, editCandidate, inListener, settingsCommand } from './collection.js';
import { type Command, type ConsoleContext, configurationFolder } from './commands.js';
import { crlFetch, crlStatus } from './crl-commands.js';
import { UsageError } from './errors.js';
import { askPastedPem } from './pem-input.js';

/** `COMMAND SUB …` where each SUB is its own command. */
type Subcommand = Pick<Command, 'usage' | 'run' | 'details'>;

function withSubcommands(summary: string, subs: Record<string, Subcommand>, main?: Subcommand): Command {
  const usage = [...(main ? [main.usage] : []), ...Object.entries(subs).map(([name, sub]) => `${name} ${sub.usage}`)].join('\n');
  return {
    summary,
    usage,
    ...(main?.details ? { details: main.details } : {}),
    async run(args, ctx) {
      const sub = args[0] ? subs[args[0]] : undefined;
      if (sub) return sub.run(args.slice(1), ctx);
      if (main) return main.run(args, ctx);
      throw new UsageError(`choose one of: ${Object.keys(subs).join(', ')}`);
    },
  };
}

const schedule = (text: string) => {
  const [kind, ...rest] = text.split(/[:@](?=.)/);
  if (kind === 'hourly') return { kind, minute: Number(rest[0] ?? 0) };
  if (kind === 'daily') return { kind, time: rest.join(':') };
  if (kind === 'weekly') return { kind, day: rest[0], time: rest.slice(1).join(':') };
  if (kind === 'cron') return { kind, expression: text.slice('cron:'.length) };
  throw new UsageError('schedule must be hourly:MM, daily:HH:MM, weekly:DAY:HH:MM or cron:EXPRESSION');
};

const customResponse = (text: string) => {
  const match = /^(\d{3})[: ](.+)$/.exec(text.trim());
  if (!match) throw new UsageError('customResponse is CODE:TEXT, for example "525:Dear user, please use your CAC to send email."');
  return { code: Number(match[1]), text: match[2]!.trim() };
};

const hostList = (text: string) =>
  text.split(',').map((entry) => {
    const [host, port, priority] = entry.trim().split(':');
    return { host: host ?? '', port: port ? Number(port) : 25, priority: priority ? Number(priority) : 0 };
  });

function listenerTemplate(name: string, config: ApplianceConfig, _scope: string | undefined, type: string | undefined) {
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
function explainRelaying(name: string, listener: Record<string, unknown>, ctx: ConsoleContext): void {
  if (listener.type !== 'private') return;
  ctx.print(
    `Listener "${name}" relays only for the addresses in its RELAYLIST sender group (policy RELAYED), which is empty: nothing relays until you add them, ` +
      `for example: listenerconfig hat ${name} edit RELAYLIST entries=192.0.2.0/24`,
  );
}

/** Lets `pem=@FILE` name a PEM file in the configuration folder, and `pem=-` take a pasted one (a certificate does not fit on a command line). */
function withPemFiles(inner: Subcommand): Subcommand {
  return {
    ...inner,
    usage: `${inner.usage}   (pem=@FILE reads a PEM file from the configuration folder; pem=- asks for it to be pasted)`,
    async run(args, ctx) {
      const words: string[] = [];
      for (const word of args) words.push(word === 'pem=-' ? `pem=${(await askPastedPem(ctx, 'the certificate')).trim()}` : word);
      return inner.run(
        words.map((word) => {
          if (!word.startsWith('pem=@')) return word;
          return `pem=${configurationFolder(ctx).read(word.slice('pem=@'.length)).trim()}`;
        }),
        ctx,
      );
    },
  };
}

async function newPassword(ctx: ConsoleContext, user: string): Promise<string> {
  const password = await ctx.askSecret(`New password for ${user}`);
  const problems = passwordProblems(password);
  if (problems.length) throw new UsageError(`the password needs ${problems.join(' and ')}`);
  if ((await ctx.askSecret('Repeat the password')) !== password) throw new UsageError('the two passwords differ; nothing was changed');
  return hashPassword(password);
}

const users = collectionCommand({ label: 'user', path: () => ['users'] });

export const settingsCommands: Record<string, Command> = {
  systemconfig: { summary: 'host name, time zone, DNS and NTP servers, console timeouts', ...settingsCommand('system') },
  interfaceconfig: {
    summary: 'network interfaces (dhcp, addresses=ADDR/PREFIX,…, gateway, mtu), applied by systemd-networkd at commit',
    ...collectionCommand({ label: 'interface', path: () => ['network', 'interfaces'] }),
  },
  listenerconfig: withSubcommands(
    'listeners, their mail flow policies and host access tables (a private listener relays only for the addresses of its RELAYLIST sender group, policy RELAYED: none until it has entries)',
    {
      policy: collectionCommand({ label: 'mail flow policy', kind: 'mail-flow-policy', scoped: true, path: inListener(['policies']) }),
      hat: collectionCommand({ label: 'sender group', scoped: true, path: inListener(['hostAccessTable']) }),
    },
    collectionCommand({ label: 'listener', kind: 'listener', path: () => ['listeners'], template: listenerTemplate, variant: 'type', afterNew: explainRelaying }),
  ),
  ldapconfig: withSubcommands('LDAP server profiles and queries', {
    server: collectionCommand({ label: 'LDAP server profile', kind: 'ldap-server', path: () => ['ldap', 'servers'] }),
    query: collectionCommand({ label: 'LDAP query', kind: 'ldap-query', path: () => ['ldap', 'queries'], variant: 'type' }),
    test: ldapTest,
  }),
  smtpauthconfig: {
    summary: 'SMTP authentication profiles (ldap or certificate)',
    ...collectionCommand({ label: 'SMTP authentication profile', kind: 'smtp-auth-profile', path: () => ['smtpAuth', 'profiles'], variant: 'type', parsers: { customResponse } }),
  },
  crlconfig: withSubcommands('CRL checking and CRL sources', {
    setup: settingsCommand('crl'),
    source: collectionCommand({ label: 'CRL source', kind: 'crl-source', path: () => ['crl', 'sources'], parsers: { schedule } }),
    status: crlStatus,
    fetch: crlFetch,
  }),
  certconfig: withSubcommands('certificate authorities trusted for client certificates, and the distrust list', {
    trust: withPemFiles(collectionCommand({ label: 'trusted CA', kind: 'trusted-ca', path: () => ['certificates', 'trustStore'] })),
    distrust: collectionCommand({ label: 'distrusted CA', path: () => ['certificates', 'distrusted'] }),
  }),
  smtproutes: {
    summary: 'SMTP routes per domain (hosts=host:port:priority,…)',
    ...collectionCommand({ label: 'SMTP route', key: 'domain', path: () => ['routes', 'smtpRoutes'], parsers: { hosts: hostList } }),
  },
  dkimconfig: { summary: 'DKIM signing profiles', ...collectionCommand({ label: 'DKIM signing profile', kind: 'dkim-profile', path: () => ['dkim', 'profiles'] }) },
  logconfig: {
    summary: 'log subscriptions',
    ...collectionCommand({ label: 'log subscription', kind: 'log-subscription', path: () => ['logs', 'subscriptions'], variant: 'type' }),
  },
  alertconfig: withSubcommands('alert recipients and the alerts sender', {
    recipient: collectionCommand({ label: 'alert recipient', key: 'address', path: () => ['alerts', 'recipients'] }),
    setup: settingsCommand('alerts'),
  }),
  authreport,
  userconfig: {
    summary: 'administrator accounts (admin, operator, read-only)',
    usage: `${users.usage}\npassword NAME`,
    async run(args, ctx) {
      const [verb, name, ...rest] = args;
      if (verb === 'new' && name) {
        const passwordHash = await newPassword(ctx, name);
        return users.run(['new', name, `passwordHash=${passwordHash}`, ...rest], ctx);
      }
      if (verb === 'password' && name) {
        const passwordHash = await newPassword(ctx, name);
        editCandidate(ctx, (draft) => {
          const user = draft.users.find((u) => u.name === name);
          if (!user) throw new UsageError(`there is no user "${name}"`);
          user.passwordHash = passwordHash;
        });
        ctx.print(`Password of ${name} changed (pending until commit).`);
        return;
      }
      if (rest.some((w) => w.startsWith('passwordHash='))) throw new UsageError('use "userconfig password NAME" to set a password');
      return users.run(args, ctx);
    },
  },
};
