// The FIPS Officer's operations: login (three wrong passwords wipe the HSM),
// the Officer password, FIPS initialisation, the HSM's status, FIPS Backup and
// Restore. The Officer's PKCS#11 work runs in a process of its own
// (src/hsm/officer-process.ts): its SO login may not share the crypto user's.
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hsmFiles } from '../hsm/files.js';
import { runOfficerProcess } from '../hsm/officer-process.js';
import type { BackupProgress, OfficerProcessResult, OfficerRequest } from '../hsm/officer-protocol.js';
import { ConfigurationFolder, ConfigurationFolderError } from '../os/configuration-folder.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { closeCryptoUser } from './crypto-user.js';
import { AdminError } from './errors.js';
import { authorizeFips, kindOfHsmCode, whoActed } from './fips-access.js';
import { recheckHsmInServices, selfTestStatus } from './system.js';

export type { BackupProgress };

/** A wrong FIPS Officer password, counted: `remainingAttempts` more and the HSM is wiped. */
export class OfficerPasswordRefused extends AdminError {
  constructor(readonly remainingAttempts: number) {
    super(`Wrong FIPS Officer password. ${remainingAttempts} attempt(s) left before the HSM is wiped.`, 'forbidden');
  }
}

/** The third wrong FIPS Officer password in a row wiped the HSM; the appliance reboots, so the session must end. */
export class HsmZeroized extends AdminError {
  constructor() {
    super('Third failed FIPS Officer password in a row: the HSM has been initialised, so every key and certificate it held is gone.\nThe appliance will reboot.', 'unavailable');
  }
}

export interface FipsStatus {
  device: string;
  tokenLabel: string;
  modulePath: string;
  /** The gateway's power-on self-test, as `selfTestStatus` gives it. */
  selfTest: string;
  /** The Officer password is still the image's factory one: the next login must change it. */
  factoryPassword: boolean;
}

// Under the TypeScript loader (tests running the sources) there is no officer-main.js next
// to src/hsm: the Officer's program is the compiled one in dist/.
function officerScript(): string | undefined {
  if (!import.meta.filename.endsWith('.ts')) return undefined;
  return resolve(import.meta.dirname, '../../dist/hsm/officer-main.js');
}

function runOfficer(runtime: Runtime, request: OfficerRequest, onProgress?: (progress: BackupProgress) => void): Promise<OfficerProcessResult> {
  const script = officerScript();
  return runOfficerProcess(request, {
    env: { ...process.env, APPLIANCE_STATE_DIR: runtime.paths.root },
    ...(script ? { script } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
}

/** A refused Officer request: a counted wrong password, the wipe, or another error (`failedTo` names what failed). */
function refused(result: Exclude<OfficerProcessResult, { ok: true }>, failedTo: string): AdminError {
  if ('zeroized' in result && result.zeroized) return new HsmZeroized();
  if ('remainingAttempts' in result) return new OfficerPasswordRefused(result.remainingAttempts);
  return new AdminError(`${failedTo}: ${'error' in result ? result.error : 'wrong FIPS Officer password'}`, kindOfHsmCode('code' in result ? result.code : undefined));
}

/** Written at first boot when the image initialised the HSM with the factory Officer password. */
function factoryMarker(runtime: Runtime): string {
  return hsmFiles(runtime.paths).officerPasswordIsFactory;
}

/** Checks the Officer password; on success the front end enters FIPS management mode (after the factory password is changed). */
export async function officerLogin(runtime: Runtime, actor: Actor, password: string): Promise<{ mustChangePassword: boolean }> {
  authorizeFips(actor, false);
  const result = await runOfficer(runtime, { command: 'login', password });
  if (!result.ok) throw refused(result, 'The FIPS Officer login failed');
  const mustChangePassword = existsSync(factoryMarker(runtime));
  runtime.logs.write(
    'fips',
    'info',
    `FIPS Officer login by ${whoActed(actor)} succeeded; ${mustChangePassword ? 'the factory password must be changed before FIPS management mode opens' : 'FIPS management mode entered'}`,
  );
  return { mustChangePassword };
}

/**
 * Changes the Officer password; a wrong current one counts like a failed login. Needs FIPS
 * management mode, except while the password is the factory one: that change opens the mode.
 */
export async function changeOfficerPassword(runtime: Runtime, actor: Actor, change: { current: string; next: string; repeated: string }): Promise<void> {
  const factory = existsSync(factoryMarker(runtime));
  authorizeFips(actor, !factory);
  if (change.repeated !== change.next) throw new AdminError('the two new passwords differ; nothing was changed', 'invalid');
  if (change.next === change.current) throw new AdminError('the new FIPS Officer password must differ from the current one; nothing was changed', 'invalid');
  const result = await runOfficer(runtime, { command: 'change-password', password: change.current, newPassword: change.next });
  if (!result.ok) throw refused(result, 'The FIPS Officer password was not changed');
  rmSync(factoryMarker(runtime), { force: true });
  runtime.logs.write('fips', 'info', `FIPS Officer password changed by ${whoActed(actor)}${factory ? '; FIPS management mode entered' : ''}`);
}

/** FIPS initialisation of a blank token: sets the Officer password; the gateway's self-test result comes back. */
export async function initialiseHsm(runtime: Runtime, actor: Actor, request: { password: string; repeated: string }): Promise<{ selfTest: string; warnings: string[] }> {
  authorizeFips(actor, false);
  if (request.repeated !== request.password) throw new AdminError('the two passwords differ; nothing was changed', 'invalid');
  const result = await runOfficer(runtime, { command: 'initialise', password: request.password });
  if (!result.ok) throw refused(result, 'FIPS initialisation failed');
  rmSync(factoryMarker(runtime), { force: true });
  closeCryptoUser();
  runtime.logs.write('fips', 'info', `FIPS initialisation by ${whoActed(actor)}`);
  const recheck = await recheckHsmInServices(runtime, actor);
  return { selfTest: recheck.gateway, warnings: recheck.problems.map((p) => `The ${p.service} service could not check the HSM again: ${p.message}`) };
}

export async function fipsStatus(runtime: Runtime, actor: Actor): Promise<FipsStatus> {
  authorizeFips(actor, false);
  const { device, tokenLabel, modulePath } = runtime.config.hsm;
  return { device, tokenLabel, modulePath, selfTest: await selfTestStatus(runtime, actor), factoryPassword: existsSync(factoryMarker(runtime)) };
}

function configurationFolder(runtime: Runtime): ConfigurationFolder {
  return new ConfigurationFolder(join(runtime.paths.root, 'configuration'));
}

/** A plain name in the configuration folder, not a link, for the Officer's process to open. */
function backupPath(runtime: Runtime, file: string): string {
  try {
    return configurationFolder(runtime).checkedPath(file);
  } catch (err) {
    if (err instanceof ConfigurationFolderError) throw new AdminError(err.message, 'invalid');
    throw err;
  }
}

/** `<hostname>-fips-backup-YYYYMMDD-HHMM.xml`, in the appliance's time zone. */
export function suggestedBackupName(runtime: Pick<Runtime, 'config'>, now = new Date()): string {
  const { hostname, timezone } = runtime.config.system;
  let parts: Record<string, string>;
  try {
    parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-GB', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(now)
        .map((p) => [p.type, p.value]),
    );
  } catch {
    const iso = now.toISOString();
    parts = { year: iso.slice(0, 4), month: iso.slice(5, 7), day: iso.slice(8, 10), hour: iso.slice(11, 13), minute: iso.slice(14, 16) };
  }
  const host = hostname.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'appliance';
  return `${host}-fips-backup-${parts.year}${parts.month}${parts.day}-${parts.hour}${parts.minute}.xml`;
}

export interface BackupRequest {
  /** A plain file name in the configuration folder. */
  file: string;
  password: string;
  passphrase: string;
  onProgress?: (progress: BackupProgress) => void;
}

/** FIPS Backup: certificates and wrapped keys as XML in the configuration folder; a wrong Officer password counts like a login. */
export async function fipsBackup(runtime: Runtime, actor: Actor, request: BackupRequest): Promise<{ path: string; backedUp: string[]; needsNewKey: string[] }> {
  authorizeFips(actor);
  const path = backupPath(runtime, request.file);
  const result = await runOfficer(runtime, { command: 'backup', password: request.password, passphrase: request.passphrase, file: path }, request.onProgress);
  if (!result.ok) throw refused(result, 'backup failed');
  runtime.logs.write('fips', 'info', `FIPS backup to ${request.file} by ${whoActed(actor)}`);
  return { path, backedUp: 'backedUp' in result ? result.backedUp : [], needsNewKey: 'needsNewKey' in result ? result.needsNewKey : [] };
}

/** FIPS Restore from a backup in the configuration folder: all or nothing; a wrong Officer password counts like a login. */
export async function fipsRestore(runtime: Runtime, actor: Actor, request: BackupRequest): Promise<{ restored: string[]; needsNewKey: string[] }> {
  authorizeFips(actor);
  const path = backupPath(runtime, request.file);
  if (!existsSync(path)) throw new AdminError(`there is no ${request.file} in the configuration folder`, 'not-found');
  const result = await runOfficer(runtime, { command: 'restore', password: request.password, passphrase: request.passphrase, file: path }, request.onProgress);
  if (!result.ok) throw refused(result, 'restore failed, nothing was changed');
  runtime.logs.write('fips', 'info', `FIPS restore from ${request.file} by ${whoActed(actor)}`);
  return { restored: 'restored' in result ? result.restored : [], needsNewKey: 'needsNewKey' in result ? result.needsNewKey : [] };
}
