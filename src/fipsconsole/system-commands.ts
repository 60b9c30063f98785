// Commands about the appliance as a machine: its version and HSM state, the log tail,
// reboot and shutdown: words to the administration core (src/admin/system.ts, logs.ts)
// and their results to text.
import { tailLog } from '../admin/logs.js';
import { firmwareInfo, powerAction, recheckHsmInServices as recheckHsm, selfTestStatus as selfTest } from '../admin/system.js';
import { actorOf, type Command, type ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

/** The gateway's power-on self-test result (fipsconfig status shows it too). */
export function selfTestStatus(ctx: ConsoleContext): Promise<string> {
  return selfTest(ctx.runtime, actorOf(ctx));
}

/** After FIPS initialisation: the services that use the HSM open it again and rerun the self-test; returns the gateway's result. */
export async function recheckHsmInServices(ctx: ConsoleContext): Promise<string> {
  const { gateway, problems } = await recheckHsm(ctx.runtime, actorOf(ctx));
  for (const { service, message } of problems) ctx.print(`The ${service} service could not check the HSM again: ${message}`);
  return gateway;
}

function powerCommand(action: 'reboot' | 'poweroff', summary: string): Command {
  return {
    summary,
    usage: '[now]',
    async run(args, ctx) {
      if (args[0] !== 'now') {
        if (!(await ctx.confirm(`${action === 'reboot' ? 'Reboot' : 'Shut down'} the appliance now? Mail in transit is kept in the queue.`))) return ctx.print('Cancelled.');
      }
      await powerAction(ctx.runtime, actorOf(ctx), action);
      ctx.print(`${action === 'reboot' ? 'Rebooting' : 'Shutting down'}.`);
    },
  };
}

export const systemCommands: Record<string, Command> = {
  version: {
    summary: 'the firmware version, the HSM state and its power-on self-test',
    usage: '',
    async run(_args, ctx) {
      const info = await firmwareInfo(ctx.runtime, actorOf(ctx));
      ctx.print(`Appliance firmware ${info.version}\nNode.js ${info.node}\nHSM: ${info.hsm}\nSelf-test: ${info.selfTest}`);
      if (info.lastUpgradeFailure !== undefined) ctx.print(`Last upgrade: refused at install: ${info.lastUpgradeFailure}`);
    },
  },
  tail: {
    summary: 'the last lines of a log subscription',
    usage: 'SUBSCRIPTION [LINES]',
    run([name, count], ctx) {
      const lines = Number(count ?? 20);
      if (!Number.isInteger(lines) || lines < 1) throw new UsageError('LINES must be a whole number');
      ctx.print(tailLog(ctx.runtime, actorOf(ctx), name ?? '', lines).join('\n') || '(empty)');
    },
  },
  reboot: powerCommand('reboot', 'reboot the appliance'),
  shutdown: powerCommand('poweroff', 'shut the appliance down'),
};
