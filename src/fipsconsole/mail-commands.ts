// The queue and message-tracking commands: words to the administration core's
// operations (src/admin/queue.ts, tracking.ts) and their results to text.
import { type QueueTarget, queueBounce, queueCounts, queueDelete, queueFlush, queueList, queueShow } from '../admin/queue.js';
import { findMessageEvents } from '../admin/tracking.js';
import { actorOf, type Command } from './commands.js';
import { UsageError } from './errors.js';

function target(words: string[]): QueueTarget {
  const [kind, value] = words;
  if (kind === 'mid' && value && /^\d+$/.test(value)) return { mid: Number(value) };
  if (kind === 'recipient' && value?.includes('@')) return { recipient: value };
  throw new UsageError('name the messages: mid NUMBER, or recipient ADDRESS');
}

export const mailCommands: Record<string, Command> = {
  queue: {
    summary: 'the mail queue: count, list, show, delete, bounce, flush',
    usage: 'count | list [STATE] | show MID | delete mid N|recipient ADDRESS | bounce mid N|recipient ADDRESS | flush',
    async run([verb = 'count', ...rest], ctx) {
      const actor = actorOf(ctx);
      switch (verb) {
        case 'count':
          ctx.print(
            Object.entries(queueCounts(ctx.runtime, actor))
              .map(([state, n]) => `  ${state}: ${n}`)
              .join('\n'),
          );
          return;
        case 'list': {
          const entries = await queueList(ctx.runtime, actor, rest[0] as never);
          ctx.print(
            entries.length
              ? entries.map((e) => `  MID ${e.mid}  ${e.state}  ${e.size} bytes  <${e.envelope.mailFrom}> → ${e.envelope.rcptTo.join(', ')}  ${e.subject}`).join('\n')
              : '  the queue is empty',
          );
          return;
        }
        case 'show':
          ctx.print(JSON.stringify(await queueShow(ctx.runtime, actor, Number(rest[0])), null, 2));
          return;
        case 'delete':
          queueDelete(ctx.runtime, actor, target(rest));
          ctx.print('Delete requested; the delivery service applies it at once.');
          return;
        case 'bounce':
          queueBounce(ctx.runtime, actor, target(rest));
          ctx.print('Bounce requested; the senders get a delivery status notification.');
          return;
        case 'flush':
          queueFlush(ctx.runtime, actor);
          ctx.print('Flush requested: deferred messages are tried again now.');
          return;
        default:
          throw new UsageError(`unknown queue action "${verb}"`);
      }
    },
  },
  findevent: {
    summary: 'every mail log line of a message, by MID, sender, recipient or subject',
    usage: 'mid N | sender ADDRESS | recipient ADDRESS | subject TEXT [SUBSCRIPTION]',
    async run([kind, value, name], ctx) {
      const usage = `usage: findevent ${mailCommands.findevent!.usage}`;
      if (!value || !kind || !['mid', 'sender', 'recipient', 'subject'].includes(kind)) throw new UsageError(usage);
      if (kind === 'mid' && !/^\d+$/.test(value)) throw new UsageError(usage);
      const query = kind === 'mid' ? { mid: Number(value) } : { [kind]: value };
      const events = await findMessageEvents(ctx.runtime, actorOf(ctx), query, name);
      ctx.print(events.length ? events.map((e) => e.line).join('\n') : 'No matching lines.');
    },
  },
};
