// What every command gets from its session: the runtime and candidate, the user, and
// the ways to talk to the person at the console (print, ask, confirm, secrets, pastes),
// and commit (which tells the services whose sections changed to reload).
import type { ActorSource } from '../admin/actor.js';
import type { Candidate } from '../os/config/candidate.js';
import type { Runtime } from '../os/runtime.js';
import { reloadServicesFor } from '../os/service.js';
import { firmwareVersion } from '../os/version.js';
import { type ConsoleContext, UsageError } from './commands.js';
import { InputClosed, type LineInput } from './line-input.js';

export interface ContextParts {
  runtime: Runtime;
  candidate: Candidate;
  user: string;
  origin: string;
  source: ActorSource;
  /** The session's line input, made when first needed. */
  lines: () => LineInput;
  /** Whether a person at a terminal is there to answer prompts. */
  interactive: boolean;
}

export function consoleContext({ runtime, candidate, user, origin, source, lines, interactive }: ContextParts): ConsoleContext {
  const ctx: ConsoleContext = {
    runtime,
    candidate,
    session: { user, origin, source, fipsMode: false },
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
    // The continuation prompt a person (or the image's smoke test) pastes the next line at.
    readLine: () => lines().question('> '),
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
  return ctx;
}
