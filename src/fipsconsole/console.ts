// The appliance console: the login shell of administrators on the serial port
// and over SSH, and the terminal of `scripts/start`.
//   console                 interactive, with a prompt showing host and pending changes
//   console COMMAND ARGS…   one command line (also from SSH_ORIGINAL_COMMAND under
//                           sshd's ForceCommand); ";" separates commands
import { deletePending } from '../admin/pending-store.js';
import { logLogin } from '../os/logging/subscriptions.js';
import { openRuntime } from '../os/runtime.js';
import { commandsOfArguments } from './command-line.js';
import { consoleContext } from './console-context.js';
import { executeCommand } from './execute.js';
import { closeCryptoUser, SessionMustClose } from './fips-mode.js';
import { interactiveSession } from './interactive.js';
import { InputClosed, LineInput } from './line-input.js';
import { commands } from './registry.js';
import { identifyConsoleUser } from './session.js';

/** A one-shot command line: every command in turn until one fails. */
async function oneShotSession(args: string[], run: (words: string[]) => Promise<boolean>): Promise<boolean> {
  const line = commandsOfArguments(args);
  if ('refused' in line) {
    process.stdout.write(`${line.refused}\n`);
    return false;
  }
  for (const words of line.commands) if (!(await run(words))) return false;
  return true;
}

/** Exit codes: 0 done, 1 a command failed, 3 the session was closed by the HSM wipe. */
async function main(argv: string[]): Promise<number> {
  const identity = identifyConsoleUser();
  const runtime = await openRuntime('console');
  const origin = 'clientIp' in identity.origin ? identity.origin.clientIp : identity.origin.tty;
  const via = identity.source === 'ssh' ? 'ssh' : identity.source === 'serial' ? 'serial console' : 'local console';
  const oneShot = argv.length > 0 ? argv : process.env.SSH_ORIGINAL_COMMAND ? [process.env.SSH_ORIGINAL_COMMAND] : [];
  const names = [...Object.keys(commands), 'exit', 'quit'];
  let input: LineInput | undefined;
  const lines = () => {
    input ??= new LineInput(oneShot.length ? undefined : (line: string): [string[], string] => [names.filter((n) => n.startsWith(line.trim())), line.trim()]);
    return input;
  };
  const ctx = consoleContext({
    runtime,
    user: identity.user,
    origin,
    source: identity.source === 'ssh' || identity.source === 'serial' ? identity.source : 'local',
    lines,
    interactive: process.stdin.isTTY === true,
  });
  const run = (words: string[]) => executeCommand(ctx, identity.source, words);

  logLogin(runtime.logs, { user: identity.user, via, origin: identity.origin, success: true });
  let code = 0;
  try {
    if (oneShot.length > 0) {
      code = (await oneShotSession(oneShot, run)) ? 0 : 1;
      if (ctx.candidate.discardable) process.stdout.write('Warning: the changes were not committed and are discarded; end the command line with "; commit".\n');
    } else {
      const { serialIdleTimeoutSeconds, sshIdleTimeoutSeconds } = runtime.config.system;
      await interactiveSession({ ctx, input: lines(), idleMs: (identity.source === 'serial' ? serialIdleTimeoutSeconds : sshIdleTimeoutSeconds) * 1000, run });
    }
  } catch (err) {
    if (oneShot.length > 0) process.stdout.write(`${(err as Error).message}\n`);
    else if (!(err instanceof SessionMustClose) && !(err instanceof InputClosed)) throw err;
    code = err instanceof SessionMustClose ? 3 : oneShot.length > 0 ? 1 : 0;
  }
  // What this session changed and did not commit goes with it (changes another session of the user made stay).
  if (ctx.candidate.discardable) deletePending(runtime, identity.user);
  logLogin(runtime.logs, { user: identity.user, via, origin: identity.origin, success: true, event: 'logout' });
  closeCryptoUser();
  input?.close();
  runtime.close();
  return code;
}

process.exitCode = await main(process.argv.slice(2));
