// The configuration as text and files: the pending configuration shown with its
// secrets masked, the running one saved to an XML file in the configuration folder
// (secrets masked, or encrypted under a passphrase: HSM keys and certificates are
// never included), a saved file loaded into the user's pending changes, and the
// folder's files. Every file name goes through src/os/configuration-folder.ts: one
// plain name, never a path or a link.
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplianceConfig } from '../os/config/schema.js';
import { maskSecrets } from '../os/config/secrets.js';
import { ConfigFileError, configFromFile, configToXml, readConfigFile, type SecretsInFile } from '../os/config/xml.js';
import { ConfigurationFolder, ConfigurationFolderError } from '../os/configuration-folder.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { candidateConfig, editChangesWith } from './changes.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type { SecretsInFile };

/** A bad file name or file as an AdminError, for every front end alike. */
function asAdminError<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof ConfigurationFolderError) throw new AdminError(err.message, /^there is no /.test(err.message) ? 'not-found' : 'invalid');
    if (err instanceof ConfigFileError) throw new AdminError(err.message, 'invalid');
    throw err;
  }
}

export const minPassphraseLength = 12;

/** The folder saveconfig writes to and loadconfig reads from (also PEM files, backups, report CSVs). */
export function configurationFolderOf(runtime: Runtime): ConfigurationFolder {
  return new ConfigurationFolder(join(runtime.paths.root, 'configuration'));
}

/** The user's pending configuration (the committed one when nothing is pending), whole or one section, secrets masked. */
export function showConfig(runtime: Runtime, actor: Actor, section?: string): unknown {
  const config = maskSecrets(candidateConfig(runtime, actor)) as Record<string, unknown>;
  if (section === undefined) return config;
  if (!(section in config)) throw new AdminError(`no section "${section}"; sections: ${Object.keys(config).join(', ')}`, 'not-found');
  return config[section];
}

export interface ConfigFileEntry {
  name: string;
  bytes: number;
  modified: string;
}

/** The regular files of the configuration folder (links and folders are left out), by name; with `extension` only those ending in it. */
export function listConfigFiles(runtime: Runtime, actor: Actor, extension?: string): ConfigFileEntry[] {
  authorize(actor, 'read');
  const folder = configurationFolderOf(runtime);
  mkdirSync(folder.dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(folder.dir);
  if (stat.isSymbolicLink() || !stat.isDirectory()) throw new AdminError(`${folder.dir} is not a folder (a link is refused)`, 'unavailable');
  return readdirSync(folder.dir)
    .filter((name) => !name.startsWith('.') && (!extension || name.endsWith(extension)))
    .flatMap((name) => {
      const stat = lstatSync(join(folder.dir, name));
      return stat.isFile() ? [{ name, bytes: stat.size, modified: stat.mtime.toISOString() }] : [];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface SavedConfig {
  name: string;
  path: string;
  revision: number;
  secrets: SecretsInFile['mode'];
}

/** The name saveconfig gives a file when none is given: host, revision and date. */
export function defaultConfigFileName(runtime: Runtime): string {
  const { config, meta } = runtime.store.committed();
  return `${config.system.hostname}-r${meta.revision}-${meta.time.slice(0, 10)}.xml`;
}

/** Checks a passphrase for secrets=encrypted before a front end asks for it again. */
export function checkPassphrase(passphrase: string): void {
  if (passphrase.length < minPassphraseLength) throw new AdminError(`the passphrase needs at least ${minPassphraseLength} characters; nothing was saved`, 'invalid');
}

/**
 * Saves the running configuration to `file` (a .xml name in the configuration folder;
 * the default name when undefined). Masked secrets need an operator; encrypted ones an
 * admin, since whoever chooses the passphrase can read every secret.
 */
export function saveConfig(runtime: Runtime, actor: Actor, file: string | undefined, secrets: SecretsInFile): SavedConfig {
  authorize(actor, secrets.mode === 'encrypted' ? 'export-encrypted' : 'export-masked');
  if (secrets.mode !== 'masked' && secrets.mode !== 'encrypted') throw new AdminError('secrets are masked or encrypted (under a passphrase)', 'invalid');
  if (secrets.mode === 'encrypted') checkPassphrase(secrets.passphrase);
  const { config, meta } = runtime.store.committed();
  const name = file ?? defaultConfigFileName(runtime);
  const folder = configurationFolderOf(runtime);
  asAdminError(() => folder.checkedPath(name, '.xml'));
  const xml = configToXml(config, { hostname: config.system.hostname, revision: meta.revision }, secrets);
  const path = asAdminError(() => folder.write(name, xml, '.xml'));
  return { name, path, revision: meta.revision, secrets: secrets.mode };
}

/** How a saved file holds its secrets (so a front end knows to ask for the passphrase), read from the configuration folder. */
export function configFileSecrets(runtime: Runtime, actor: Actor, file: string): 'masked' | 'encrypted' | 'plain' {
  authorize(actor, 'read');
  return asAdminError(() => readConfigFile(configurationFolderOf(runtime).read(file, '.xml')).secrets);
}

export interface LoadedConfig {
  path: string;
  /** Certificate and key material the file carried, which was ignored (HSM keys come back with a FIPS backup). */
  ignoredKeyMaterial: string[];
  /** Secrets masked in the file that keep the value configured here. */
  keptSecrets: string[];
}

/**
 * Loads a saved file into the user's pending changes (review the diff, then commit: the
 * commit judges what it changes, so a file cannot give more rights than the role has).
 */
export function loadConfig(runtime: Runtime, actor: Actor, file: string, options: { passphrase?: string } = {}): LoadedConfig {
  authorize(actor, 'edit');
  const folder = configurationFolderOf(runtime);
  const parsed = asAdminError(() => readConfigFile(folder.read(file, '.xml')));
  if (parsed.secrets === 'encrypted' && options.passphrase === undefined)
    throw new AdminError(`${file} has its secrets encrypted: give the passphrase it was saved with`, 'invalid');
  const loaded = asAdminError(() =>
    editChangesWith(runtime, actor, (draft: ApplianceConfig) => {
      // Masked secrets keep the values of the pending configuration as it is under the lock.
      const fromFile = configFromFile(parsed, { current: draft, ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }) });
      Object.assign(draft, fromFile.config);
      return fromFile;
    }),
  );
  return { path: join(folder.dir, file), ignoredKeyMaterial: loaded.ignoredKeyMaterial, keptSecrets: loaded.keptSecrets };
}
