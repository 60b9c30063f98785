// The upgrade command: words to the administration core's upgrade (src/admin/upgrade.ts),
// its progress printed as it comes, and a yes/no before installing unless "now" is given.
import { upgradeFirmware } from '../admin/upgrade.js';
import { actorOf, type Command } from './commands.js';
import { UsageError } from './errors.js';

export const upgrade: Command = {
  summary: 'install a new firmware version (from a URL or a file in the configuration folder) and reboot; the configuration is kept',
  usage: 'URL|FILE [now]',
  async run([source, now], ctx) {
    if (!source) throw new UsageError('usage: upgrade URL|FILE [now]   (an http(s) URL, or a bundle file put in the configuration folder)');
    const result = await upgradeFirmware(ctx.runtime, actorOf(ctx), source, {
      onProgress: ctx.print,
      ...(now === 'now' ? {} : { confirm: (manifest) => ctx.confirm(`Install ${manifest.version} and reboot? The configuration is kept and mail in the queue waits.`) }),
    });
    if (result.outcome === 'cancelled') return ctx.print('Cancelled; nothing was changed.');
    ctx.print(
      result.installsNow
        ? `Upgrade to ${result.manifest.version} staged: the appliance installs it and reboots now.`
        : `Upgrade to ${result.manifest.version} staged in ${result.staged}; this appliance is not running under systemd (scripts/start), so nothing installs it.`,
    );
  },
};
