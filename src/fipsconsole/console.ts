// The appliance console: the login shell of administrators on the serial port
// and over SSH, and the terminal of `scripts/start`.
//   console                 interactive, with a prompt showing host and pending changes
//   console COMMAND ARGS…   one command line (also from SSH_ORIGINAL_COMMAND under
//                           sshd's ForceCommand); ";" separates commands
import { Candidate } from '../os/config/candidate.js';
import { logLogin } from '../os/logging/subscriptions.js';
import { openRuntime } from '../os/runtime.js';
import { reloadServicesFor } from '../os/service.js';
import { firmwareVersion } from '../os/version.js';
import { type ConsoleContext, isUserError, UsageError } from './commands.js';
import { closeCryptoUser, SessionMustClose } from './fips-mode.js';
import { InputClosed, LineInput } from './line-input.js';
import { commands } from './registry.js';
import { refusal, roleOf } from './roles.js';
import { identifyConsoleUser } from './session.js';
import { splitCommandLine, splitSequence } from './words.js';

const maxLineLength = 4096;

/** The words of a command line as the audit log keeps them: values of secret settings masked. */
function maskSecrets(words: string[]): string[] {
  return words.map((word) => word.replace(/^([A-Za-z]*(password|secret|passphrase|pin)[A-Za-z]*=).+$/i, '$1*****'));
}

/** Drops control characters and escape sequences a terminal could act on (tab stays a separator). */
function withoutControlCharacters(line: string): string {
  return [...line].filter((c) => c === '\t' || (c >= ' ' && c !== '\u007f')).join('');
}

/** Exit codes: 0 done, 1 a command failed, 3 the session was closed by the HSM wipe. */
async function main(argv: string[]): Promise<number> {
  const identity = identifyConsoleUser();
  const runtime = await openRuntime('console');
  const candidate = new Candidate(runtime.store, identity);
  const origin = 'clientIp' in identity.origin ? identity.origin.clientIp : identity.origin.tty;
  const via = identity.source === 'ssh' ? 'ssh' : identity.source === 'serial' ? 'serial console' : 'local console';
  const oneShot = argv.length > 0 ? argv : process.env.SSH_ORIGINAL_COMMAND ? [process.env.SSH_ORIGINAL_COMMAND] : [];
  const names = [...Object.keys(commands), 'exit', 'quit'];
  const interactive = process.stdin.isTTY === true;
  let input: LineInput | undefined;
  const lines = () => {
    input ??= new LineInput(oneShot.length ? undefined : (line: string): [string[], string] => [names.filter((n) => n.startsWith(line.trim())), line.trim()]);
    return input;
  };
  const ctx: ConsoleContext = {
    runtime,
    candidate,
    session: { user: identity.user, origin, fipsMode: false },
    configFilesDir: `${runtime.paths.root}/configuration`,
    version: firmwareVersion(),
    print: (text) => process.stdout.write(`${text}\n`),
    interactive,
    async ask(prompt, defaultValue) {
      // Only a person at a terminal is asked: piped input's next line is not an answer.
      if (!interactive) {
        if (defaultValue !== undefined) return defaultValue;
        throw new UsageError(`${prompt} is missing; give it on the command line`);
      }
      const answer = (await lines().question(`${prompt}${defaultValue ? ` [${defaultValue}]` : ''}> `)).trim();
      return answer || defaultValue || '';
    },
    readLine: () => lines().question(''),
    async confirm(question) {
      try {
        return /^(y|yes)$/i.test((await lines().question(`${question} [N]> `)).trim());
      } catch (err) {
        if (err instanceof InputClosed) return false;
        throw err;
      }
    },
    askSecret: (prompt) => lines().question(`${prompt}: `, { secret: true }),
    async commit(comment, confirmMinutes) {
      const meta = await candidate.commit(comment, confirmMinutes, ctx.session.fipsMode ? 'fips-auto' : undefined);
      runtime.refresh();
      const told = reloadServicesFor(runtime, meta.revision);
      if (told.length) ctx.print(`Reloading: ${told.join(', ')}.`);
      return meta;
    },
  };

  /** Runs one command; returns false if it failed. SessionMustClose propagates. */
  const execute = async (words: string[]): Promise<boolean> => {
    const [name, ...args] = words;
    if (!name) return true;
    runtime.logs.write(
      'cli-audit',
      'info',
      `User ${identity.user} (${identity.source} ${origin}) ran: ${maskSecrets([name, ...args])
        .join(' ')
        .slice(0, 500)}`,
    );
    const command = commands[name];
    try {
      runtime.refresh(); // another session, or the system service, may have committed since the last command
      if (!command) throw new UsageError(`unknown command "${name}"; type "help" for the list`);
      const refused = refusal(roleOf(runtime.store.committed().config, identity.user), name, args);
      if (refused) throw new UsageError(refused);
      await command.run(args, ctx);
      if (ctx.session.fipsMode && candidate.pending) {
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
  };

  const finish = (code: number) => {
    logLogin(runtime.logs, { user: identity.user, via, origin: identity.origin, success: true, event: 'logout' });
    closeCryptoUser();
    input?.close();
    runtime.close();
    return code;
  };

  logLogin(runtime.logs, { user: identity.user, via, origin: identity.origin, success: true });
  if (oneShot.length > 0) {
    let ok = true;
    try {
      const words = oneShot.length === 1 ? splitCommandLine(oneShot[0]!) : oneShot;
      for (const sequence of splitSequence(words)) {
        ok = await execute(sequence);
        if (!ok) break;
      }
    } catch (err) {
      process.stdout.write(`${(err as Error).message}\n`);
      if (err instanceof SessionMustClose) return finish(3);
      ok = false;
    }
    if (candidate.pending) process.stdout.write('Warning: the changes were not committed and are discarded; end the command line with "; commit".\n');
    return finish(ok ? 0 : 1);
  }

  const { serialIdleTimeoutSeconds, sshIdleTimeoutSeconds } = runtime.config.system;
  const idleMs = (identity.source === 'serial' ? serialIdleTimeoutSeconds : sshIdleTimeoutSeconds) * 1000;
  let idle: NodeJS.Timeout | undefined;
  process.on('SIGTSTP', () => {}); // no job control: nothing to suspend to
  const interrupt = () => {
    process.stdout.write(`\n${candidate.pending ? 'Uncommitted changes discarded. ' : ''}Session closed.\n`);
    input?.close();
  };
  lines().onInterrupt(interrupt);
  process.on('SIGINT', interrupt); // Ctrl-C that reaches us as a signal rather than a key
  process.stdout.write(`${runtime.config.system.hostname}: appliance console. Type "help" for commands.\n`);
  try {
    for (;;) {
      clearTimeout(idle);
      idle = setTimeout(() => {
        process.stdout.write('\nIdle timeout: closing the session; uncommitted changes are discarded.\n');
        input?.close();
      }, idleMs);
      const mode = `${candidate.pending ? ' (pending changes)' : ''}${ctx.session.fipsMode ? ' (fips)' : ''}`;
      const line = await lines().question(`${runtime.store.committed().config.system.hostname}${mode}> `);
      if (line.length > maxLineLength) {
        ctx.print(`The line is longer than ${maxLineLength} characters and was ignored.`);
        continue;
      }
      let words: string[];
      try {
        words = splitCommandLine(withoutControlCharacters(line));
      } catch (err) {
        ctx.print((err as Error).message);
        continue;
      }
      if (words[0] === 'exit' || words[0] === 'quit') {
        if (candidate.pending) {
          const answer = (await lines().question('You have uncommitted changes. Discard them and exit? [N]> ')).trim().toLowerCase();
          if (answer !== 'y' && answer !== 'yes') continue;
        }
        break;
      }
      for (const sequence of splitSequence(words)) if (!(await execute(sequence))) break;
    }
  } catch (err) {
    if (err instanceof SessionMustClose) {
      clearTimeout(idle);
      return finish(3);
    }
    if (!(err instanceof InputClosed)) throw err;
  }
  clearTimeout(idle);
  return finish(0);
}

process.exitCode = await main(process.argv.slice(2));
