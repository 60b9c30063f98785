// The console commands for each area of settings, in the appliance's words.
// Each is a list of named items (see collection.ts) or one group of settings.
// The settings themselves (areas, templates, parsers) are src/admin/settings-catalog.ts.
import { missingForNew, newUser, setUserPassword } from '../admin/settings.js';
import { passwordProblems } from '../os/users.js';
import { authreport, ldapTest } from './auth-commands.js';
import { collectionCommand, settingsCommand } from './collection.js';
import { actorOf, type Command, type ConsoleContext, configurationFolder } from './commands.js';
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

/** Asks for a new password twice, without echo; src/admin checks its strength and keeps only its hash. */
async function newPassword(ctx: ConsoleContext, user: string): Promise<string> {
  const password = await ctx.askSecret(`New password for ${user}`);
  const problems = passwordProblems(password);
  if (problems.length) throw new UsageError(`the password needs ${problems.join(' and ')}`);
  if ((await ctx.askSecret('Repeat the password')) !== password) throw new UsageError('the two passwords differ; nothing was changed');
  return password;
}

const users = collectionCommand('users');

export const settingsCommands: Record<string, Command> = {
  systemconfig: { summary: 'host name, time zone, DNS and NTP servers, console timeouts', ...settingsCommand('system') },
  interfaceconfig: {
    summary: 'network interfaces (dhcp, addresses=ADDR/PREFIX,…, gateway, mtu), applied by systemd-networkd at commit',
    ...collectionCommand('interfaces'),
  },
  listenerconfig: withSubcommands(
    'listeners, their mail flow policies and host access tables (a private listener relays only for the addresses of its RELAYLIST sender group, policy RELAYED: none until it has entries)',
    {
      policy: collectionCommand('policies'),
      hat: collectionCommand('hat'),
    },
    collectionCommand('listeners'),
  ),
  ldapconfig: withSubcommands('LDAP server profiles and queries', {
    server: collectionCommand('ldap-servers'),
    query: collectionCommand('ldap-queries'),
    test: ldapTest,
  }),
  smtpauthconfig: {
    summary: 'SMTP authentication profiles (ldap or certificate)',
    ...collectionCommand('smtp-auth-profiles'),
  },
  crlconfig: withSubcommands('CRL checking and CRL sources', {
    setup: settingsCommand('crl'),
    source: collectionCommand('crl-sources'),
    status: crlStatus,
    fetch: crlFetch,
  }),
  certconfig: withSubcommands('certificate authorities trusted for client certificates, and the distrust list', {
    trust: withPemFiles(collectionCommand('trusted-cas')),
    distrust: collectionCommand('distrusted-cas'),
  }),
  smtproutes: {
    summary: 'SMTP routes per domain (hosts=host:port:priority,…)',
    ...collectionCommand('routes'),
  },
  dkimconfig: { summary: 'DKIM signing profiles', ...collectionCommand('dkim-profiles') },
  logconfig: {
    summary: 'log subscriptions',
    ...collectionCommand('log-subscriptions'),
  },
  alertconfig: withSubcommands('alert recipients and the alerts sender', {
    recipient: collectionCommand('alert-recipients'),
    setup: settingsCommand('alerts'),
  }),
  authreport,
  userconfig: {
    summary: 'administrator accounts (admin, operator, read-only)',
    usage: `${users.usage}\npassword NAME`,
    async run(args, ctx) {
      const [verb, name, ...rest] = args;
      if (verb === 'new' && name) {
        const actor = actorOf(ctx);
        if (ctx.candidate.config.users.some((u) => u.name === name)) throw new UsageError(`a user "${name}" already exists; use edit`);
        const password = await newPassword(ctx, name);
        const words = [...rest];
        if (ctx.interactive) {
          // The hash is made from the password; only the keys the command line left out are asked for.
          for (const field of missingForNew(ctx.runtime, actor, 'users', name, [...words, 'passwordHash=(asked)'])) {
            words.push(`${field.key}=${await ctx.ask(`user ${name}: ${field.key} (${field.help})`)}`);
          }
        }
        newUser(ctx.runtime, actor, name, password, words);
        ctx.print(`New user "${name}" added (pending until commit).`);
        return;
      }
      if (verb === 'password' && name) {
        if (!ctx.candidate.config.users.some((u) => u.name === name)) throw new UsageError(`there is no user "${name}"`);
        setUserPassword(ctx.runtime, actorOf(ctx), name, await newPassword(ctx, name));
        ctx.print(`Password of ${name} changed (pending until commit).`);
        return;
      }
      if (rest.some((w) => w.startsWith('passwordHash='))) throw new UsageError('use "userconfig password NAME" to set a password');
      return users.run(args, ctx);
    },
  },
};
