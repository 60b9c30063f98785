// The appliance as a machine: firmware version, the HSM's state and its power-on
// self-test (and its rerun after FIPS initialisation), which services run, recent
// alerts; reboot and shutdown.
// Reboot and shutdown run systemctl with fixed arguments (no shell); without
// systemd (scripts/start) they say what to do instead.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { acquireModule, findTokenSlot, releaseModule } from '../hsm/module.js';
import type { Runtime } from '../os/runtime.js';
import { isServiceRunning } from '../os/service.js';
import { requestServiceAction, ServiceUnavailable } from '../os/service-requests.js';
import { upgradeFiles } from '../os/upgrade.js';
import { firmwareVersion } from '../os/version.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { tailLog } from './logs.js';
import { authorize } from './permissions.js';

export const applianceServices = ['system', 'gateway', 'delivery', 'webadmin'] as const;

export interface SystemStatus {
  version: string;
  node: string;
  hostname: string;
  /** The HSM device and whether its token is initialised, or what is wrong. */
  hsm: string;
  /** The gateway's power-on self-test result. */
  selfTest: string;
  services: { name: string; running: boolean }[];
  /** The last refused upgrade, if any. */
  lastUpgradeFailure?: string;
  /** Recent alert lines of the system log, newest last. */
  alerts: string[];
}

function hsmState(runtime: Runtime): string {
  const { modulePath, tokenLabel, device } = runtime.config.hsm;
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
export async function selfTestStatus(runtime: Runtime, actor: Actor): Promise<string> {
  authorize(actor, 'read');
  try {
    return String(await requestServiceAction(runtime.paths.run, 'gateway', 'hsm-status', {}, 5000));
  } catch (err) {
    return err instanceof ServiceUnavailable ? 'unknown (the gateway service is not running)' : (err as Error).message;
  }
}

export interface HsmRecheck {
  /** The gateway's self-test result after it opened the HSM again. */
  gateway: string;
  /** The services that were running but could not check the HSM again, and why. */
  problems: { service: string; message: string }[];
}

/** After FIPS initialisation: the services that use the HSM open it again and rerun the self-test. */
export async function recheckHsmInServices(runtime: Runtime, actor: Actor): Promise<HsmRecheck> {
  authorize(actor, 'hsm');
  const result: HsmRecheck = { gateway: 'unknown (the gateway service is not running)', problems: [] };
  for (const service of ['gateway', 'delivery']) {
    try {
      const status = String(await requestServiceAction(runtime.paths.run, service, 'hsm-recheck', {}, 60_000));
      if (service === 'gateway') result.gateway = status;
    } catch (err) {
      if (!(err instanceof ServiceUnavailable)) result.problems.push({ service, message: (err as Error).message });
    }
  }
  return result;
}

export interface FirmwareInfo {
  version: string;
  node: string;
  /** The HSM device and whether its token is initialised, or what is wrong. */
  hsm: string;
  /** The gateway's power-on self-test result. */
  selfTest: string;
  /** Why the last staged upgrade was refused at install, if it was. */
  lastUpgradeFailure?: string;
}

/** What `version` shows: the firmware, Node.js, the HSM and its self-test, a refused upgrade. */
export async function firmwareInfo(runtime: Runtime, actor: Actor): Promise<FirmwareInfo> {
  authorize(actor, 'read');
  const failure = upgradeFiles(runtime.paths).lastFailure;
  return {
    version: firmwareVersion(),
    node: process.version,
    hsm: hsmState(runtime),
    selfTest: await selfTestStatus(runtime, actor),
    ...(existsSync(failure) ? { lastUpgradeFailure: readFileSync(failure, 'utf8').trim() } : {}),
  };
}

function recentAlerts(runtime: Runtime, actor: Actor): string[] {
  const systemLog = runtime.config.logs.subscriptions.find((s) => s.type === 'system');
  if (!systemLog) return [];
  return tailLog(runtime, actor, systemLog.name, 2000)
    .filter((line) => line.includes(' Alert ('))
    .slice(-20);
}

export async function systemStatus(runtime: Runtime, actor: Actor): Promise<SystemStatus> {
  const { version, node, hsm, selfTest, lastUpgradeFailure } = await firmwareInfo(runtime, actor);
  return {
    version,
    node,
    hostname: runtime.config.system.hostname,
    hsm,
    selfTest,
    services: applianceServices.map((name) => ({ name, running: isServiceRunning(runtime.paths.run, name) })),
    ...(lastUpgradeFailure === undefined ? {} : { lastUpgradeFailure }),
    alerts: recentAlerts(runtime, actor),
  };
}

function underSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

/** Reboots or powers off the appliance; the mail in transit stays in the queue. */
export async function powerAction(runtime: Runtime, actor: Actor, action: 'reboot' | 'poweroff'): Promise<void> {
  authorize(actor, 'power');
  if (!underSystemd()) throw new AdminError('this appliance is not running under systemd (scripts/start): leave the console to stop it', 'unavailable');
  runtime.logs.write('system', 'info', `${action} requested by ${actor.user} (${actor.source}${actor.from ? ` ${actor.from}` : ''})`);
  await new Promise<void>((resolve, reject) => execFile('/usr/bin/systemctl', [action], (err) => (err ? reject(err) : resolve())));
}
