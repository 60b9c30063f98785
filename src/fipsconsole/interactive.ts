// The interactive session: the prompt (host, pending changes, FIPS mode), the idle
// timeout, Ctrl-C and Ctrl-D, and `exit` that asks before discarding changes.

import { commandsOfLine } from './command-line.js';
import type { ConsoleContext } from './commands.js';
import type { LineInput } from './line-input.js';

export interface InteractiveOptions {
  ctx: ConsoleContext;
  input: LineInput;
  idleMs: number;
  run(words: string[]): Promise<boolean>;
}

/** Reads and runs lines until the user leaves, the input ends or the session idles out (InputClosed); SessionMustClose propagates. */
export async function interactiveSession({ ctx, input, idleMs, run }: InteractiveOptions): Promise<void> {
  const { runtime, candidate } = ctx;
  let idle: NodeJS.Timeout | undefined;
  process.on('SIGTSTP', () => {}); // no job control: nothing to suspend to
  const interrupt = () => {
    process.stdout.write(`\n${candidate.discardable ? 'Uncommitted changes discarded. ' : ''}Session closed.\n`);
    input.close();
  };
  input.onInterrupt(interrupt);
  process.on('SIGINT', interrupt); // Ctrl-C that reaches us as a signal rather than a key
  process.stdout.write(`${runtime.config.system.hostname}: appliance console. Type "help" for commands.\n`);
  try {
    for (;;) {
      clearTimeout(idle);
      idle = setTimeout(() => {
        process.stdout.write('\nIdle timeout: closing the session; uncommitted changes are discarded.\n');
        input.close();
      }, idleMs);
      const mode = `${candidate.pending ? ' (pending changes)' : ''}${ctx.session.fipsMode ? ' (fips)' : ''}`;
      const line = commandsOfLine(await input.question(`${runtime.store.committed().config.system.hostname}${mode}> `));
      if ('refused' in line) {
        ctx.print(line.refused);
        continue;
      }
      const first = line.commands[0]?.[0];
      if (first === 'exit' || first === 'quit') {
        if (candidate.discardable && !(await ctx.confirm('You have uncommitted changes. Discard them and exit?'))) continue;
        return;
      }
      for (const words of line.commands) if (!(await run(words))) break;
    }
  } finally {
    clearTimeout(idle);
  }
}
