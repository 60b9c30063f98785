// The upgrade command: a new firmware bundle from a URL or the configuration folder,
// accepted only when it lists the running version as an upgrade path (src/os/upgrade.ts).
import { existsSync, mkdirSync, rmSync, statfsSync } from 'node:fs';
import { urlRefusal } from '../os/fetch.js';
import { checkBundle, downloadBundle, stageBundle, UpgradeRefused, upgradeFiles } from '../os/upgrade.js';
import { type Command, type ConsoleContext, configurationFolder } from './commands.js';
import { UsageError } from './errors.js';

/** What a download may take: the free space above the spool's reserve (the state folder is one file system), at most 2 GB. */
function downloadBudget(ctx: ConsoleContext, dir: string): number {
  mkdirSync(dir, { recursive: true });
  const { bavail, bsize } = statfsSync(dir);
  const budget = Math.min(2 * 1024 ** 3, bavail * bsize - ctx.runtime.config.system.spoolReserveMegabytes * 1048576);
  if (budget <= 0) throw new UsageError("there is no room for an upgrade above the spool's free-space reserve; nothing was downloaded");
  return budget;
}

export const upgrade: Command = {
  summary: 'install a new firmware version (from a URL or a file in the configuration folder) and reboot; the configuration is kept',
  usage: 'URL|FILE [now]',
  async run([source, now], ctx) {
    if (!source) throw new UsageError('usage: upgrade URL|FILE [now]   (an http(s) URL, or a bundle file put in the configuration folder)');
    const files = upgradeFiles(ctx.runtime.paths);
    let bundle: string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(source)) {
      // Anything with a scheme is a URL: the fetch module's rule says which ones are fetched (http and https).
      const refusal = urlRefusal(source);
      if (refusal) throw new UsageError(`upgrade refused: ${refusal}; give an http(s) URL or a bundle file in the configuration folder`);
      ctx.print(`Downloading ${source} …`);
      try {
        await downloadBundle(source, files.download, downloadBudget(ctx, files.dir), ctx.print);
      } catch (err) {
        throw new UsageError(err instanceof UpgradeRefused ? `upgrade refused: ${err.message}` : `downloading ${source} failed: ${(err as Error).message}`);
      }
      bundle = files.download;
    } else {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(source)) throw new UsageError(`"${source}" is neither an http(s) URL nor a file name in the configuration folder`);
      bundle = configurationFolder(ctx).checkedPath(source);
      if (!existsSync(bundle)) throw new UsageError(`there is no ${source} in the configuration folder`);
    }
    const discard = () => bundle === files.download && rmSync(bundle, { force: true });
    ctx.print(`Checking the bundle against this appliance's version, ${ctx.version} …`);
    let manifest: Awaited<ReturnType<typeof checkBundle>>;
    try {
      manifest = await checkBundle(bundle, ctx.version);
    } catch (err) {
      discard();
      if (err instanceof UpgradeRefused) throw new UsageError(`upgrade refused: ${err.message}`);
      throw err;
    }
    ctx.print(`The bundle installs ${manifest.version}; it may be installed on ${manifest.upgradeFrom.join(', ')}.`);
    if (now !== 'now') {
      const install = await ctx.confirm(`Install ${manifest.version} and reboot? The configuration is kept and mail in the queue waits.`);
      if (!install) {
        discard();
        return ctx.print('Cancelled; nothing was changed.');
      }
    }
    await stageBundle(ctx.runtime.paths, bundle, manifest, `${ctx.session.user} (${ctx.session.origin})`);
    ctx.runtime.logs.write('system', 'info', `upgrade from ${ctx.version} to ${manifest.version} staged by ${ctx.session.user} (${ctx.session.origin})`);
    ctx.print(
      existsSync('/run/systemd/system')
        ? `Upgrade to ${manifest.version} staged: the appliance installs it and reboots now.`
        : `Upgrade to ${manifest.version} staged in ${files.staged}; this appliance is not running under systemd (scripts/start), so nothing installs it.`,
    );
  },
};
