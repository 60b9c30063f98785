// What every command gets from its session: the runtime, the user's pending changes
// (src/admin/changes.ts: on disk, shared with the user's other sessions), the user, and
// the ways to talk to the person at the console (print, ask, confirm, secrets, pastes),
// and commit (which tells the services whose sections changed to reload).
import type { ActorSource } from '../admin/actor.js';
import { candidateConfig, clearChanges, commitChanges, editChanges, pendingChanges, rollbackTo } from '../admin/changes.js';
import { pendingFileText } from '../admin/pending-store.js';
import type { Runtime } from '../os/runtime.js';
import { firmwareVersion } from '../os/version.js';
import { actorOf, type ConsoleContext, type SessionChanges, UsageError } from './commands.js';
import { InputClosed, type LineInput } from './line-input.js';

export interface ContextParts {
  runtime: Runtime;
  user: string;
  origin: string;
  source: ActorSource;
  /** The session's line input, made when first needed. */
  lines: () => LineInput;
  /** Whether a person at a terminal is there to answer prompts. */
  interactive: boolean;
}

/** The user's pending changes, read from disk at every use; `discardable` compares with what they were when the session began. */
function sessionChanges(runtime: Runtime, ctx: () => ConsoleContext, user: string): SessionChanges {
  const atStart = pendingFileText(runtime, user);
  return {
    get pending() {
      return pendingChanges(runtime, actorOf(ctx())).pending;
    },
    get discardable() {
      return this.pending && pendingFileText(runtime, user) !== atStart;
    },
    get config() {
      return candidateConfig(runtime, actorOf(ctx()));
    },
    edit: (change) => editChanges(runtime, actorOf(ctx()), change),
    diff: () => pendingChanges(runtime, actorOf(ctx())).diff,
    clear: () => clearChanges(runtime, actorOf(ctx())),
    rollback: (revision) => rollbackTo(runtime, actorOf(ctx()), revision),
  };
}

export function consoleContext({ runtime, user, origin, source, lines, interactive }: ContextParts): ConsoleContext {
  const ctx: ConsoleContext = {
    runtime,
    candidate: sessionChanges(runtime, () => ctx, user),
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
      const outcome = await commitChanges(runtime, actorOf(ctx), { comment, ...(confirmMinutes === undefined ? {} : { confirmMinutes }) });
      if (outcome.reloaded.length) ctx.print(`Reloading: ${outcome.reloaded.join(', ')}.`);
      return outcome;
    },
  };
  return ctx;
}
