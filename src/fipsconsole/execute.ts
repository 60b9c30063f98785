// Running one command line at the console: the audit line (secrets masked), the role
// check, the command, and in FIPS management mode the commit that follows every change.
import { type ConsoleContext, isUserError, UsageError } from './commands.js';
import { SessionMustClose } from './fips-mode.js';
import { InputClosed } from './line-input.js';
import { commands } from './registry.js';
import { refusal, roleOf } from './roles.js';

/** The words of a command line as the audit log keeps them: values of secret settings masked. */
export function maskSecrets(words: string[]): string[] {
  return words.map((word) => word.replace(/^([A-Za-z]*(password|secret|passphrase|pin)[A-Za-z]*=).+$/i, '$1*****'));
}

/** Runs one command; returns false if it failed. SessionMustClose and InputClosed propagate. */
export async function executeCommand(ctx: ConsoleContext, source: string, words: string[]): Promise<boolean> {
  const [name, ...args] = words;
  if (!name) return true;
  const { runtime, candidate, session } = ctx;
  runtime.logs.write(
    'cli-audit',
    'info',
    `User ${session.user} (${source} ${session.origin}) ran: ${maskSecrets([name, ...args])
      .join(' ')
      .slice(0, 500)}`,
  );
  const command = commands[name];
  try {
    runtime.refresh(); // another session, or the system service, may have committed since the last command
    if (!command) throw new UsageError(`unknown command "${name}"; type "help" for the list`);
    const refused = refusal(roleOf(runtime.store.committed().config, session.user), name, args);
    if (refused) throw new UsageError(refused);
    await command.run(args, ctx);
    if (session.fipsMode && candidate.pending) {
      const meta = await ctx.commit(`FIPS management mode: ${name} ${args.join(' ')}`.trim().slice(0, 200));
      ctx.print(`Committed as revision ${meta.revision} (FIPS management mode commits every change).`);
    }
    return true;
  } catch (err) {
    if (err instanceof SessionMustClose || err instanceof InputClosed) throw err;
    if (!isUserError(err)) runtime.logger.error({ err, command: name }, 'console command failed');
    process.stdout.write(`${isUserError(err) ? '' : 'Internal error: '}${(err as Error).message}\n`);
    return false;
  }
}
