// The console's commands. Each takes its arguments from the command line (for
// scripts and `ssh admin@host 'command …'`); run interactively, a command asks
// for what is missing. Nothing here starts a shell or runs a program named by
// the user: the console is the only thing an administrator's login reaches.
import { type Actor, type ActorSource, actorFor } from '../admin/actor.js';
import { type CommitOutcome, commitChanges, commitHistory, revisionDiff, rollbackTo } from '../admin/changes.js';
import { checkPassphrase, configFileSecrets, defaultConfigFileName, loadConfig, type SecretsInFile, saveConfig, showConfig } from '../admin/config-files.js';
import { configurationStatus } from '../admin/config-status.js';
import { AdminError } from '../admin/errors.js';
import { HsmError } from '../hsm/module.js';
import { CommitRefusedError } from '../os/config/authorization.js';
import { NothingToCommitError } from '../os/config/candidate.js';
import { ConfigReferenceError } from '../os/config/references.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import { CommitConflictError, type RevisionMeta } from '../os/config/store.js';
import { ConfigError } from '../os/config/validate.js';
import { ConfigFileError } from '../os/config/xml.js';
import { ConfigurationFolder, ConfigurationFolderError } from '../os/configuration-folder.js';
import type { Runtime } from '../os/runtime.js';
import { UsageError } from './errors.js';

export { UsageError };

export interface ConsoleSession {
  user: string;
  /** The client IP over SSH, or the tty. */
  origin: string;
  source: ActorSource;
  fipsMode: boolean;
}

/** The acting user of an administration operation, its role read from the committed configuration now. */
export function actorOf(ctx: ConsoleContext): Actor {
  const { user, source, origin, fipsMode } = ctx.session;
  return { ...actorFor(ctx.runtime, { user, source, from: origin }), fipsMode };
}

/** The user's pending changes as a console session sees them (shared with the user's other sessions, on disk). */
export interface SessionChanges {
  readonly pending: boolean;
  /** Pending, and changed since this session began: what leaving the session discards. */
  readonly discardable: boolean;
  /** The pending configuration (the committed one when nothing is pending). */
  readonly config: ApplianceConfig;
  /** Applies an edit, validated whole, kept only if valid. */
  edit(change: (draft: ApplianceConfig) => void): void;
  diff(): string;
  /** Discards the pending changes; whether there were any. */
  clear(): boolean;
  rollback(revision: number): RevisionMeta;
}

export interface ConsoleContext {
  runtime: Runtime;
  candidate: SessionChanges;
  session: ConsoleSession;
  print(text: string): void;
  /** Asks at a terminal; with piped input returns the default, or fails naming what is missing. */
  ask(question: string, defaultValue?: string): Promise<string>;
  /** A yes/no question: true only for y or yes, from a terminal or the next piped line (no answer is no). */
  confirm(question: string): Promise<boolean>;
  /** The next line of input as it is (a pasted PEM), from a terminal or a pipe. */
  readLine(): Promise<string>;
  /** Whether a person at a terminal is there to answer. */
  interactive: boolean;
  /** Asks without echo; the answer is never logged. */
  askSecret(question: string): Promise<string>;
  /** Commits the pending changes (source fips-auto in FIPS management mode), tells the services to reload and says which. */
  commit(comment: string, confirmMinutes?: number): Promise<CommitOutcome>;
  /** Folder that saveconfig writes to and loadconfig reads from when given a bare name. */
  configFilesDir: string;
  version: string;
}

export interface Command {
  summary: string;
  /** The words after the command's name; one line per form. */
  usage: string;
  /** More for `help COMMAND`: for example the keys a new item takes. */
  details?(config: ApplianceConfig): string | undefined;
  run(args: string[], ctx: ConsoleContext): Promise<void> | void;
}

/** Errors a user can act on are printed as they are; anything else is a bug and is logged. */
export function isUserError(err: unknown): boolean {
  return [
    UsageError,
    AdminError,
    ConfigError,
    ConfigFileError,
    ConfigurationFolderError,
    CommitConflictError,
    CommitRefusedError,
    NothingToCommitError,
    RangeError,
    ConfigReferenceError,
    HsmError,
  ].some((type) => err instanceof type);
}

function parsePositiveInt(value: string | undefined, what: string): number {
  const n = Number(value);
  if (!value || !Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a whole number of at least 1, not "${value ?? ''}"`);
  return n;
}

/** The configuration folder of this console (saveconfig, loadconfig, PEM files, reports). */
export function configurationFolder(ctx: ConsoleContext): ConfigurationFolder {
  return new ConfigurationFolder(ctx.configFilesDir);
}

async function newPassphrase(ctx: ConsoleContext): Promise<string> {
  const passphrase = await ctx.askSecret('Passphrase to encrypt the secrets with');
  checkPassphrase(passphrase);
  if ((await ctx.askSecret('Repeat the passphrase')) !== passphrase) throw new UsageError('the two passphrases differ; nothing was saved');
  return passphrase;
}

async function commit(args: string[], ctx: ConsoleContext): Promise<void> {
  let confirmMinutes: number | undefined;
  if (args[0] === 'confirmed') {
    confirmMinutes = parsePositiveInt(args[1], 'commit confirmed MINUTES');
    args = args.slice(2);
  }
  if (!ctx.candidate.pending && confirmMinutes === undefined) {
    const outcome = await commitChanges(ctx.runtime, actorOf(ctx));
    ctx.print(`Confirmed revision ${outcome.revision}: it stays the running configuration.`);
    return;
  }
  const comment = args.length > 0 ? args.join(' ') : await ctx.ask('Comment for this commit', '');
  const outcome = await ctx.commit(comment, confirmMinutes);
  ctx.print(`${outcome.confirmedOnly ? 'Confirmed' : 'Committed'} revision ${outcome.revision}.`);
  if (outcome.confirmMinutes !== undefined) {
    ctx.print(`Run "commit" again within ${outcome.confirmMinutes} minute(s) to keep it, or it is reverted.`);
    if (outcome.revertWarning) ctx.print(`Warning: ${outcome.revertWarning}.`);
  }
}

export const baseCommands: Record<string, Command> = {
  status: {
    summary: 'the running revision, pending changes and pending confirmations',
    usage: '',
    run(_args, ctx) {
      const status = configurationStatus(ctx.runtime, actorOf(ctx));
      const { running, awaitingConfirmation: confirm } = status;
      ctx.print(
        [
          `Hostname: ${status.hostname}`,
          `Running revision: ${running.revision} (${running.time} by ${running.user} via ${running.source})`,
          `Uncommitted changes: ${status.pending ? 'yes (see "diff")' : 'none'}`,
          ...(confirm
            ? [
                `Awaiting confirmation: revision ${confirm.revision}, reverted to ${confirm.revertTo} at ${confirm.deadline} unless you run "commit"` +
                  (confirm.overdue ? ' (overdue: the system service, which reverts it, is not running)' : ''),
              ]
            : []),
        ].join('\n'),
      );
    },
  },
  commit: {
    summary: 'make the pending changes the running configuration',
    usage: '[confirmed MINUTES] [COMMENT…]',
    run: commit,
  },
  clear: {
    summary: 'discard the pending changes',
    usage: '',
    run(_args, ctx) {
      const had = ctx.candidate.clear();
      ctx.print(had ? 'Pending changes discarded.' : 'There were no pending changes.');
    },
  },
  rollback: {
    summary: 'load an earlier revision as pending changes (then commit it)',
    usage: 'REVISION',
    async run(args, ctx) {
      const revision = parsePositiveInt(args[0] ?? (await ctx.ask('Revision to load')), 'REVISION');
      const meta = rollbackTo(ctx.runtime, actorOf(ctx), revision);
      ctx.print(`Loaded revision ${meta.revision} (${meta.time} by ${meta.user}${meta.comment ? `: ${meta.comment}` : ''}). Run "commit" to make it the running configuration.`);
    },
  },
  history: {
    summary: 'the committed revisions, newest first',
    usage: '[COUNT]',
    run(args, ctx) {
      const count = args[0] ? parsePositiveInt(args[0], 'COUNT') : 20;
      for (const m of commitHistory(ctx.runtime, actorOf(ctx), count)) {
        const comment = m.comment;
        ctx.print(`${String(m.revision).padStart(5)}  ${m.time}  ${m.user} via ${m.source}${m.from ? ` (${m.from})` : ''}${comment ? `  ${comment}` : ''}`);
      }
    },
  },
  diff: {
    summary: 'the pending changes, or what revision N changed',
    usage: '[REVISION]',
    run(args, ctx) {
      if (!args[0]) {
        ctx.print(ctx.candidate.pending ? ctx.candidate.diff() : 'There are no pending changes.');
        return;
      }
      ctx.print(revisionDiff(ctx.runtime, actorOf(ctx), parsePositiveInt(args[0], 'REVISION')));
    },
  },
  showconfig: {
    summary: 'the pending configuration, whole or one section',
    usage: '[SECTION]',
    run(args, ctx) {
      ctx.print(JSON.stringify(showConfig(ctx.runtime, actorOf(ctx), args[0]), null, 2));
    },
  },
  saveconfig: {
    summary: 'save the running configuration to an XML file: secrets masked, or encrypted under a passphrase (HSM keys and certificates are never included)',
    usage: '[FILE.xml] [secrets=masked|encrypted]',
    async run(args, ctx) {
      const option = args.find((a) => a.startsWith('secrets='));
      const mode = option?.slice('secrets='.length) ?? 'masked';
      if (mode !== 'masked' && mode !== 'encrypted')
        throw new UsageError('secrets= is masked (the default: loading the file keeps the secrets configured here) or encrypted (kept, under a passphrase)');
      const name = args.find((a) => a !== option) ?? defaultConfigFileName(ctx.runtime);
      configurationFolder(ctx).checkedPath(name, '.xml');
      const secrets: SecretsInFile = mode === 'encrypted' ? { mode, passphrase: await newPassphrase(ctx) } : { mode };
      const saved = saveConfig(ctx.runtime, actorOf(ctx), name, secrets);
      ctx.print(`Saved revision ${saved.revision} to ${saved.path} (secrets ${mode === 'masked' ? 'masked' : 'encrypted under the passphrase'}).`);
    },
  },
  loadconfig: {
    summary: 'load a saved XML configuration as pending changes (then commit it)',
    usage: 'FILE.xml',
    async run(args, ctx) {
      const name = args[0] ?? (await ctx.ask('File to load'));
      const actor = actorOf(ctx);
      const passphrase = configFileSecrets(ctx.runtime, actor, name) === 'encrypted' ? await ctx.askSecret('Passphrase the file was saved with') : undefined;
      const loaded = loadConfig(ctx.runtime, actor, name, passphrase === undefined ? {} : { passphrase });
      if (loaded.ignoredKeyMaterial.length > 0) {
        ctx.print(
          `Warning: the file carries certificate or key material, which was ignored (HSM keys are restored with fipsconfig backup): ${loaded.ignoredKeyMaterial.join(', ')}`,
        );
      }
      if (loaded.keptSecrets.length > 0) ctx.print(`Masked in the file, kept as configured here: ${loaded.keptSecrets.join(', ')}`);
      ctx.print(`Loaded ${loaded.path}. Review with "diff", then "commit".`);
    },
  },
};
