// Every console command, by name.
import { baseCommands, type Command } from './commands.js';
import { UsageError } from './errors.js';
import { fipsconfig } from './fips-mode.js';
import { mailCommands } from './mail-commands.js';
import { settingsCommands } from './settings-commands.js';
import { systemCommands } from './system-commands.js';
import { upgrade } from './upgrade-command.js';

export const commands: Record<string, Command> = {
  help: {
    summary: 'list the commands, or show how to use one',
    usage: '[COMMAND]',
    run(args, ctx) {
      const name = args[0];
      if (name) {
        const command = commands[name];
        if (!command) throw new UsageError(`no command "${name}"; type "help" for the list`);
        const forms = command.usage.split('\n').map((form) => `${name} ${form.trim()}`.trim());
        const details = command.details?.(ctx.candidate.config);
        ctx.print(`${name}: ${command.summary}\nusage: ${forms.join('\n       ')}${details ? `\n${details}` : ''}`);
        return;
      }
      const width = Math.max(...Object.keys(commands).map((n) => n.length));
      ctx.print(
        Object.entries(commands)
          .map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`)
          .join('\n'),
      );
    },
  },
  ...baseCommands,
  ...settingsCommands,
  ...systemCommands,
  ...mailCommands,
  upgrade,
  fipsconfig,
};
