// The queue and message-tracking commands: `queue` reads the spool and leaves
// delete/bounce/flush requests that the delivery service applies; `findevent`
// finds every mail log line of a message.
import { QueueCommands } from '../mail/delivery/queue-commands.js';
import { findEvents } from '../mail/findevent/findevent.js';
import type { Command, ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

function target(words: string[]): { mid?: number; recipient?: string } {
  const [kind, value] = words;
  if (kind === 'mid' && value && /^\d+$/.test(value)) return { mid: Number(value) };
  if (kind === 'recipient' && value?.includes('@')) return { recipient: value };
  throw new UsageError('name the messages: mid NUMBER, or recipient ADDRESS');
}

const queue = (ctx: ConsoleContext) => new QueueCommands(ctx.runtime.paths.spool);

export const mailCommands: Record<string, Command> = {
  queue: {
    summary: 'the mail queue: count, list, show, delete, bounce, flush',
    usage: 'count | list [STATE] | show MID | delete mid N|recipient ADDRESS | bounce mid N|recipient ADDRESS | flush',
    async run([verb = 'count', ...rest], ctx) {
      switch (verb) {
        case 'count':
          ctx.print(
            Object.entries(queue(ctx).count())
              .map(([state, n]) => `  ${state}: ${n}`)
              .join('\n'),
          );
          return;
        case 'list': {
          const entries = await queue(ctx).list(rest[0] as never);
          ctx.print(
            entries.length
              ? entries.map((e) => `  MID ${e.mid}  ${e.state}  ${e.size} bytes  <${e.envelope.mailFrom}> → ${e.envelope.rcptTo.join(', ')}  ${e.subject}`).join('\n')
              : '  the queue is empty',
          );
          return;
        }
        case 'show': {
          const entry = await queue(ctx).show(Number(rest[0]));
          if (!entry) throw new UsageError(`no message with MID ${rest[0] ?? ''} in the queue`);
          ctx.print(JSON.stringify(entry, null, 2));
          return;
        }
        case 'delete':
          queue(ctx).delete(target(rest));
          ctx.print('Delete requested; the delivery service applies it at once.');
          return;
        case 'bounce':
          queue(ctx).bounce(target(rest));
          ctx.print('Bounce requested; the senders get a delivery status notification.');
          return;
        case 'flush':
          queue(ctx).flush();
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
      if (!value) throw new UsageError(`usage: findevent ${mailCommands.findevent!.usage}`);
      const query =
        kind === 'mid'
          ? { mid: Number(value) }
          : kind === 'sender'
            ? { sender: value }
            : kind === 'recipient'
              ? { recipient: value }
              : kind === 'subject'
                ? { subject: value }
                : undefined;
      if (!query || (query.mid !== undefined && !Number.isInteger(query.mid))) throw new UsageError(`usage: findevent ${mailCommands.findevent!.usage}`);
      const subscription = ctx.runtime.config.logs.subscriptions.find((s) => (name ? s.name === name : s.type === 'mail'));
      if (!subscription) throw new UsageError('no mail log subscription to search');
      const lines = await findEvents(`${ctx.runtime.paths.logs}/${subscription.name}`, subscription.name, query);
      ctx.print(lines.length ? lines.join('\n') : 'No matching lines.');
    },
  },
};
