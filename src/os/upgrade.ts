// Upgrades (seed "Upgrade Paths"). A bundle, made by scripts/build-image, is a tar file
// holding upgrade.json (the version it installs, the versions it may be installed on,
// the SHA-256 of the payload), upgrade.json.sig (its Ed25519 signature by the build's
// key, whose public half the image carries) and payload.tar (the /usr/lib/appliance tree
// and /etc/appliance-version). This module checks a bundle against the running version and
// stages it; image/rootfs/usr/lib/appliance/bin/apply-upgrade (root, started by
// appliance-upgrade.path) installs the staged payload and reboots. The configuration and
// everything else under the state folder is left as it is; the services migrate it.
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { writeFileDurably } from './atomic-file.js';
import { type Downloaded, downloadToFile, FetchError } from './fetch.js';
import type { StatePaths } from './paths.js';

export const upgradeManifest = z.strictObject({
  product: z.literal('hsm-mail-gateway'),
  version: z.string().min(1),
  upgradeFrom: z.array(z.string().min(1)),
  payloadSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type UpgradeManifest = z.infer<typeof upgradeManifest>;

export class UpgradeRefused extends Error {}

/** The public key that signs upgrade bundles, installed by scripts/build-image. */
export const upgradeSigningKeyFile = process.env.APPLIANCE_UPGRADE_KEY ?? '/usr/lib/appliance/upgrade-signing.pub';

function checkSignature(manifestBytes: Buffer, signature: Buffer): void {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(readFileSync(upgradeSigningKeyFile));
  } catch {
    throw new UpgradeRefused(`this appliance has no upgrade signing key (${upgradeSigningKeyFile}): only an image built by scripts/build-image takes upgrades`);
  }
  if (!verify(null, manifestBytes, key, signature)) throw new UpgradeRefused('the bundle is not signed by the key this appliance trusts. Nothing was changed.');
}

export function upgradeFiles(paths: Pick<StatePaths, 'root' | 'run'>) {
  const dir = join(paths.root, 'upgrade');
  return {
    dir,
    download: join(dir, 'download.tar'),
    staged: join(dir, 'staged.tar'),
    /** Written by apply-upgrade when it refused the staged bundle; `version` shows it. */
    lastFailure: join(dir, 'last-failure.txt'),
    request: join(paths.run, 'upgrade-request.json'),
  };
}

/** Reads one member of a tar file through `consume` (tar -xO: no shell, no files written); rejects when tar fails. */
async function withTarMember<T>(bundle: string, member: string, consume: (stream: Readable) => Promise<T>): Promise<T> {
  const tar = spawn('tar', ['-xOf', bundle, member], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((ok, fail) =>
    tar.on('close', (code) =>
      code === 0 ? ok() : fail(new UpgradeRefused(`the file is not an upgrade bundle (${member}: ${stderr.trim().split('\n')[0] || `tar exited ${code}`})`)),
    ),
  );
  const [result] = await Promise.all([consume(tar.stdout), exited]);
  return result;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Checks a bundle: its signature, its manifest, its payload; refuses a version the bundle does not list as an upgrade path. */
export async function checkBundle(bundle: string, runningVersion: string): Promise<UpgradeManifest> {
  const manifestBytes = await withTarMember(bundle, 'upgrade.json', readAll);
  checkSignature(manifestBytes, await withTarMember(bundle, 'upgrade.json.sig', readAll));
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    throw new UpgradeRefused("the bundle's upgrade.json is not JSON");
  }
  const parsed = upgradeManifest.safeParse(json);
  if (!parsed.success) throw new UpgradeRefused(`the bundle's upgrade.json is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const manifest = parsed.data;
  if (manifest.version === runningVersion) throw new UpgradeRefused(`this appliance already runs ${runningVersion}; nothing was changed`);
  if (!manifest.upgradeFrom.includes(runningVersion)) {
    throw new UpgradeRefused(
      `${manifest.version} can be installed only on ${manifest.upgradeFrom.join(', ') || 'no version (it lists no upgrade paths)'}; this appliance runs ${runningVersion}. ` +
        'Upgrade to one of those versions first. Nothing was changed.',
    );
  }
  const hash = createHash('sha256');
  await withTarMember(bundle, 'payload.tar', (stream) => pipeline(stream, hash));
  const actual = hash.digest('hex');
  if (actual !== manifest.payloadSha256)
    throw new UpgradeRefused(`the bundle is damaged: its payload's SHA-256 is ${actual}, upgrade.json says ${manifest.payloadSha256}. Nothing was changed.`);
  return manifest;
}

/** Downloads a bundle over HTTP(S) (src/os/fetch.ts: its rules for schemes, redirects and time) into the upgrade folder, reporting progress; refuses one larger than `maxBytes`. */
export async function downloadBundle(url: string, target: string, maxBytes: number, progress: (text: string) => void): Promise<void> {
  const dir = dirname(target);
  mkdirSync(dir, { recursive: true });
  let lastShown = 0;
  let downloaded: Downloaded;
  try {
    downloaded = await downloadToFile(url, dir, {
      maxBytes,
      timeoutMs: 30 * 60_000,
      connectTimeoutMs: 30_000,
      onProgress(received, total) {
        if (received - lastShown < 16 << 20 && received !== total) return;
        lastShown = received;
        progress(`  downloaded ${(received / 1048576).toFixed(0)} MB${total ? ` of ${(total / 1048576).toFixed(0)} MB (${Math.floor((100 * received) / total)}%)` : ''}`);
      },
    });
  } catch (error) {
    if (error instanceof FetchError && error.kind === 'too-large')
      throw new UpgradeRefused(`the bundle is larger than the ${(maxBytes / 1048576).toFixed(0)} MB this appliance can take without eating into the spool's reserve`);
    throw error;
  }
  renameSync(downloaded.path, target);
}

/** Puts a checked bundle in the staged place and asks the root unit to install it (which reboots). */
export async function stageBundle(paths: Pick<StatePaths, 'root' | 'run'>, bundle: string, manifest: UpgradeManifest, by: string): Promise<void> {
  const files = upgradeFiles(paths);
  mkdirSync(files.dir, { recursive: true });
  if (bundle === files.download) renameSync(bundle, files.staged);
  else {
    // A file from the configuration folder stays where the administrator put it.
    await pipeline(createReadStream(bundle), createWriteStream(`${files.staged}.part`));
    renameSync(`${files.staged}.part`, files.staged);
  }
  rmSync(files.lastFailure, { force: true });
  const request = { version: manifest.version, bytes: statSync(files.staged).size, requestedBy: by, requested: new Date().toISOString() };
  writeFileDurably(files.request, `${JSON.stringify(request)}\n`, 0o600);
}
