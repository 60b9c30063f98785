// The appliance as a machine: firmware version, the HSM's state and its power-on
// self-test, which services run, recent alerts; reboot and shutdown.
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

function recentAlerts(runtime: Runtime, actor: Actor): string[] {
  const systemLog = runtime.config.logs.subscriptions.find((s) => s.type === 'system');
  if (!systemLog) return [];
  return tailLog(runtime, actor, systemLog.name, 2000)
    .filter((line) => line.includes(' Alert ('))
    .slice(-20);
}

export async function systemStatus(runtime: Runtime, actor: Actor): Promise<SystemStatus> {
  authorize(actor, 'read');
  const failure = upgradeFiles(runtime.paths).lastFailure;
  return {
    version: firmwareVersion(),
    node: process.version,
    hostname: runtime.config.system.hostname,
    hsm: hsmState(runtime),
    selfTest: await selfTestStatus(runtime, actor),
    services: applianceServices.map((name) => ({ name, running: isServiceRunning(runtime.paths.run, name) })),
    ...(existsSync(failure) ? { lastUpgradeFailure: readFileSync(failure, 'utf8').trim() } : {}),
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
