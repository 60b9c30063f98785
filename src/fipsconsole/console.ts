// The appliance console: the login shell of administrators on the serial port
// and over SSH, and the terminal of `scripts/start`.
//   console                 interactive, with a prompt showing host and pending changes
//   console COMMAND ARGS…   one command, for scripts and `ssh admin@host 'status'`
import { readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline/promises';
import { Candidate } from '../os/config/candidate.js';
import { openRuntime } from '../os/runtime.js';
import { type Command, type ConsoleContext, commands, isUserError, UsageError } from './commands.js';
import { identifyConsoleUser } from './session.js';
import { splitCommandLine, splitSequence } from './words.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function main(argv: string[]): Promise<number> {
  const identity = identifyConsoleUser();
  const runtime = await openRuntime('console');
  const candidate = new Candidate(runtime.store, identity);
  const where = 'clientIp' in identity.origin ? identity.origin.clientIp : identity.origin.tty;
  let rl: Interface | undefined;
  const ctx: ConsoleContext = {
    runtime,
    candidate,
    configFilesDir: `${runtime.paths.root}/configuration`,
    version,
    print: (text) => process.stdout.write(`${text}\n`),
    async ask(prompt, defaultValue) {
      if (!rl) {
        if (defaultValue !== undefined) return defaultValue;
        throw new UsageError(`${prompt} is missing; give it on the command line`);
      }
      const answer = (await rl.question(`${prompt}${defaultValue ? ` [${defaultValue}]` : ''}> `)).trim();
      return answer || defaultValue || '';
    },
  };

  const execute = async (words: string[]): Promise<boolean> => {
    const [name, ...args] = words;
    if (!name) return true;
    runtime.logs.write('cli-audit', 'info', `User ${identity.user} (${identity.source} ${where}) ran: ${name}${args.length ? ` ${args.join(' ')}` : ''}`);
    const command: Command | undefined = commands[name];
    try {
      if (!command) throw new UsageError(`unknown command "${name}"; type "help" for the list`);
      await command.run(args, ctx);
      return true;
    } catch (err) {
      if (!isUserError(err)) runtime.logger.error({ err, command: name }, 'console command failed');
      process.stdout.write(`${isUserError(err) ? '' : 'Internal error: '}${(err as Error).message}\n`);
      return false;
    }
  };

  // One command line from the arguments or from ssh (SSH_ORIGINAL_COMMAND under ForceCommand);
  // commands separated by ";" run in order in one session, stopping at the first error.
  const oneShot = argv.length > 0 ? argv : process.env.SSH_ORIGINAL_COMMAND ? [process.env.SSH_ORIGINAL_COMMAND] : [];
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
      ok = false;
    }
    if (candidate.pending) process.stdout.write('Warning: the changes were not committed and are discarded; end the command line with "; commit".\n');
    runtime.close();
    return ok ? 0 : 1;
  }

  const names = [...Object.keys(commands), 'exit', 'quit'];
  rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    completer: (line: string): [string[], string] => [names.filter((n) => n.startsWith(line.trim())), line.trim()],
  });
  const closed = new Promise<never>((_, reject) => rl?.once('close', () => reject(new Error('input closed'))));
  closed.catch(() => {});
  const question = (text: string) => Promise.race([rl!.question(text), closed]);
  process.on('SIGTSTP', () => {}); // no job control: nothing to suspend to
  rl.on('SIGINT', () => {
    process.stdout.write(`\n${candidate.pending ? 'Uncommitted changes discarded. ' : ''}Session closed.\n`);
    rl?.close();
  });
  const idleMs = runtime.config.system.cliIdleTimeoutMinutes * 60_000;
  let idle: NodeJS.Timeout | undefined;
  process.stdout.write(`${runtime.config.system.hostname}: appliance console. Type "help" for commands.\n`);
  for (;;) {
    clearTimeout(idle);
    idle = setTimeout(() => {
      process.stdout.write('\nIdle timeout: closing the session; uncommitted changes are discarded.\n');
      rl?.close();
    }, idleMs);
    const prompt = `${runtime.store.committed().config.system.hostname}${candidate.pending ? ' (pending changes)' : ''}> `;
    let line: string;
    try {
      line = await question(prompt);
    } catch {
      break; // input closed: end of file, hang-up or idle timeout
    }
    let words: string[];
    try {
      words = splitCommandLine(line);
    } catch (err) {
      process.stdout.write(`${(err as Error).message}\n`);
      continue;
    }
    if (words[0] === 'exit' || words[0] === 'quit') {
      if (candidate.pending) {
        const answer = (await question('You have uncommitted changes. Discard them and exit? [N]> ').catch(() => 'yes')).trim().toLowerCase();
        if (answer !== 'y' && answer !== 'yes') continue;
      }
      break;
    }
    await execute(words);
  }
  clearTimeout(idle);
  rl.close();
  runtime.close();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
