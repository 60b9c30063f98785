// Commands about the appliance as a machine: its version and HSM state, the
// log tail, reboot and shutdown. Reboot and shutdown run systemctl with fixed
// arguments (no shell); without systemd (scripts/start) they say what to do.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireModule, findTokenSlot, releaseModule } from '../hsm/module.js';
import { requestServiceAction, ServiceUnavailable } from '../os/service-requests.js';
import { upgradeFiles } from '../os/upgrade.js';
import type { Command, ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

function hsmState(ctx: ConsoleContext): string {
  const { modulePath, tokenLabel, device } = ctx.runtime.config.hsm;
  try {
    const lib = acquireModule(modulePath);
    try {
      findTokenSlot(lib, tokenLabel);
      return `${device}, token "${tokenLabel}" initialised`;
    } finally {
      releaseModule(modulePath);
    }
  } catch (err) {
    return `${device}, token "${tokenLabel}": ${(err as Error).message}`;
  }
}

/** The power-on self-test runs in the gateway service, which holds the HSM for TLS: ask it. */
export async function selfTestStatus(ctx: ConsoleContext): Promise<string> {
  try {
    return String(await requestServiceAction(ctx.runtime.paths.run, 'gateway', 'hsm-status', {}, 5000));
  } catch (err) {
    return err instanceof ServiceUnavailable ? 'unknown (the gateway service is not running)' : (err as Error).message;
  }
}

/** After FIPS initialisation: the services that use the HSM open it again and rerun the self-test; returns the gateway's result. */
export async function recheckHsmInServices(ctx: ConsoleContext): Promise<string> {
  let gateway = 'unknown (the gateway service is not running)';
  for (const service of ['gateway', 'delivery']) {
    try {
      const status = String(await requestServiceAction(ctx.runtime.paths.run, service, 'hsm-recheck', {}, 60_000));
      if (service === 'gateway') gateway = status;
    } catch (err) {
      if (!(err instanceof ServiceUnavailable)) ctx.print(`The ${service} service could not check the HSM again: ${(err as Error).message}`);
    }
  }
  return gateway;
}

function underSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

function powerCommand(action: 'reboot' | 'poweroff', summary: string): Command {
  return {
    summary,
    usage: '[now]',
    async run(args, ctx) {
      if (args[0] !== 'now') {
        if (!(await ctx.confirm(`${action === 'reboot' ? 'Reboot' : 'Shut down'} the appliance now? Mail in transit is kept in the queue.`))) return ctx.print('Cancelled.');
      }
      if (!underSystemd()) throw new UsageError('this appliance is not running under systemd (scripts/start): leave the console to stop it');
      ctx.runtime.logs.write('system', 'info', `${action} requested by ${ctx.session.user} (${ctx.session.origin})`);
      await new Promise<void>((resolve, reject) => execFile('/usr/bin/systemctl', [action], (err) => (err ? reject(err) : resolve())));
      ctx.print(`${action === 'reboot' ? 'Rebooting' : 'Shutting down'}.`);
    },
  };
}

export const systemCommands: Record<string, Command> = {
  version: {
    summary: 'the firmware version, the HSM state and its power-on self-test',
    usage: '',
    async run(_args, ctx) {
      ctx.print(`Appliance firmware ${ctx.version}\nNode.js ${process.version}\nHSM: ${hsmState(ctx)}\nSelf-test: ${await selfTestStatus(ctx)}`);
      const failure = upgradeFiles(ctx.runtime.paths).lastFailure;
      if (existsSync(failure)) ctx.print(`Last upgrade: refused at install: ${readFileSync(failure, 'utf8').trim()}`);
    },
  },
  tail: {
    summary: 'the last lines of a log subscription',
    usage: 'SUBSCRIPTION [LINES]',
    run([name, count], ctx) {
      const subscription = ctx.runtime.config.logs.subscriptions.find((s) => s.name === name);
      if (!subscription) throw new UsageError(`no log subscription "${name ?? ''}"; subscriptions: ${ctx.runtime.config.logs.subscriptions.map((s) => s.name).join(', ')}`);
      const lines = Number(count ?? 20);
      if (!Number.isInteger(lines) || lines < 1) throw new UsageError('LINES must be a whole number');
      const file = join(ctx.runtime.paths.logs, subscription.name, `${subscription.name}.current`);
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      ctx.print(text.trimEnd().split('\n').slice(-lines).join('\n') || '(empty)');
    },
  },
  reboot: powerCommand('reboot', 'reboot the appliance'),
  shutdown: powerCommand('poweroff', 'shut the appliance down'),
};
