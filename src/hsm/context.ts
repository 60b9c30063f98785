// Wires the HSM area to a process's runtime: its files, device and Officer.
import type { Runtime } from '../os/runtime.js';
import { deviceFor } from './device.js';
import { hsmFiles } from './files.js';
import { Officer } from './officer.js';
import { HsmService } from './service.js';

export function officerFor(runtime: Pick<Runtime, 'config' | 'paths' | 'alerts' | 'logs'>): Officer {
  const files = hsmFiles(runtime.paths);
  return new Officer({ config: runtime.config.hsm, files, device: deviceFor(runtime.config.hsm, files), alerts: runtime.alerts, logs: runtime.logs });
}

/** The HSM service of a process that serves crypto (listeners, delivery): pool, self-test, error state. */
export function startHsmService(runtime: Pick<Runtime, 'config' | 'paths' | 'alerts' | 'logs'>, poolSize?: number, env: NodeJS.ProcessEnv = process.env): Promise<HsmService> {
  return HsmService.start({ config: runtime.config.hsm, files: hsmFiles(runtime.paths), alerts: runtime.alerts, logs: runtime.logs, env, ...(poolSize ? { poolSize } : {}) });
}
