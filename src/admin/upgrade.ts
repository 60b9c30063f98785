// A firmware upgrade: a bundle from an http(s) URL (fetched by src/os/fetch.ts, whose rules
// refuse file: and other schemes, redirects too) or from the configuration folder, accepted
// only when it lists the running version as an upgrade path and its signature and payload
// check (src/os/upgrade.ts); then staged for the root unit, which installs it and reboots.
import { existsSync, mkdirSync, rmSync, statfsSync } from 'node:fs';
import { urlRefusal } from '../os/fetch.js';
import type { Runtime } from '../os/runtime.js';
import { checkBundle, downloadBundle, stageBundle, type UpgradeManifest, UpgradeRefused, upgradeFiles } from '../os/upgrade.js';
import { firmwareVersion } from '../os/version.js';
import type { Actor } from './actor.js';
import { configurationFolderOf } from './config-files.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type { UpgradeManifest };

export interface UpgradeOptions {
  /** Each step and the download's progress, as a line of text. */
  onProgress?: (text: string) => void;
  /** Asked once the bundle is checked; false cancels (the download is removed). Without it the bundle is installed. */
  confirm?: (manifest: UpgradeManifest) => Promise<boolean>;
}

export type UpgradeOutcome =
  | { outcome: 'cancelled'; manifest: UpgradeManifest }
  | {
      outcome: 'staged';
      manifest: UpgradeManifest;
      /** Where the staged bundle is. */
      staged: string;
      /** Under systemd the root unit installs it and reboots now; otherwise (scripts/start) nothing installs it. */
      installsNow: boolean;
    };

const maxDownloadBytes = 2 * 1024 ** 3;

/** What a download may take: the free space above the spool's reserve (the state folder is one file system), at most 2 GB. */
function downloadBudget(runtime: Runtime, dir: string): number {
  mkdirSync(dir, { recursive: true });
  const { bavail, bsize } = statfsSync(dir);
  const budget = Math.min(maxDownloadBytes, bavail * bsize - runtime.config.system.spoolReserveMegabytes * 1048576);
  if (budget <= 0) throw new AdminError("there is no room for an upgrade above the spool's free-space reserve; nothing was downloaded", 'unavailable');
  return budget;
}

/** The bundle to check: downloaded into the upgrade folder, or the file in the configuration folder. */
async function bundleFrom(runtime: Runtime, source: string, progress: (text: string) => void): Promise<string> {
  const files = upgradeFiles(runtime.paths);
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) {
    // Anything with a scheme is a URL: the fetch module's rule says which ones are fetched (http and https).
    const refusal = urlRefusal(source);
    if (refusal) throw new AdminError(`upgrade refused: ${refusal}; give an http(s) URL or a bundle file in the configuration folder`, 'invalid');
    progress(`Downloading ${source} …`);
    try {
      await downloadBundle(source, files.download, downloadBudget(runtime, files.dir), progress);
    } catch (err) {
      if (err instanceof AdminError) throw err;
      throw new AdminError(err instanceof UpgradeRefused ? `upgrade refused: ${err.message}` : `downloading ${source} failed: ${(err as Error).message}`, 'unavailable');
    }
    return files.download;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(source)) throw new AdminError(`"${source}" is neither an http(s) URL nor a file name in the configuration folder`, 'invalid');
  let bundle: string;
  try {
    bundle = configurationFolderOf(runtime).checkedPath(source);
  } catch (err) {
    throw new AdminError((err as Error).message, 'invalid');
  }
  if (!existsSync(bundle)) throw new AdminError(`there is no ${source} in the configuration folder`, 'not-found');
  return bundle;
}

/**
 * Checks the bundle named by `source` (an http(s) URL or a file in the configuration folder)
 * against the running version and, once `confirm` agrees, stages it for installation.
 */
export async function upgradeFirmware(runtime: Runtime, actor: Actor, source: string, options: UpgradeOptions = {}): Promise<UpgradeOutcome> {
  authorize(actor, 'upgrade');
  if (!source) throw new AdminError('name the bundle: an http(s) URL, or a bundle file put in the configuration folder', 'invalid');
  const progress = options.onProgress ?? (() => {});
  const version = firmwareVersion();
  const files = upgradeFiles(runtime.paths);
  const bundle = await bundleFrom(runtime, source, progress);
  const discard = () => bundle === files.download && rmSync(bundle, { force: true });
  progress(`Checking the bundle against this appliance's version, ${version} …`);
  let manifest: UpgradeManifest;
  try {
    manifest = await checkBundle(bundle, version);
  } catch (err) {
    discard();
    if (err instanceof UpgradeRefused) throw new AdminError(`upgrade refused: ${err.message}`, 'invalid');
    throw err;
  }
  progress(`The bundle installs ${manifest.version}; it may be installed on ${manifest.upgradeFrom.join(', ')}.`);
  if (options.confirm && !(await options.confirm(manifest))) {
    discard();
    return { outcome: 'cancelled', manifest };
  }
  const by = `${actor.user} (${actor.from ?? actor.source})`;
  await stageBundle(runtime.paths, bundle, manifest, by);
  runtime.logs.write('system', 'info', `upgrade from ${version} to ${manifest.version} staged by ${by}`);
  return { outcome: 'staged', manifest, staged: files.staged, installsNow: existsSync('/run/systemd/system') };
}
