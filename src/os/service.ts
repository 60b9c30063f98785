// The life of an appliance service: open the runtime, recover the configuration
// store, start, tell systemd, reload on SIGHUP (RELOADING=1 … READY=1), stop on
// SIGTERM/SIGINT. Each running service leaves a pid file in run/ so that a
// commit can tell it to reload.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplianceConfig } from './config/schema.js';
import { changedSections } from './config/store.js';
import { openRuntime, type Runtime } from './runtime.js';
import { type ServiceAction, serveRequests } from './service-requests.js';
import { Systemd } from './systemd.js';

type Section = keyof ApplianceConfig;

/** Every service runs on its log subscriptions and alert settings (Runtime.refresh). */
const sectionsOfEveryService: readonly Section[] = ['logs', 'alerts'];

export interface ServiceHooks {
  /** The configuration sections the service runs on: a commit that changes none of them does not reload it. */
  sections: readonly Section[] | 'every commit';
  start(runtime: Runtime): Promise<string> | string;
  reload(runtime: Runtime): Promise<string> | string;
  stop(runtime: Runtime): Promise<void> | void;
  /** What the console may ask of the running service (see service-requests.ts). */
  actions?: Record<string, ServiceAction>;
}

export async function runService(name: string, hooks: ServiceHooks, root?: string): Promise<Runtime> {
  const systemd = new Systemd();
  // A commit during the start (SIGHUP's default action would end the process) is kept for after it.
  let reloadDuringStart = false;
  const hupDuringStart = () => {
    reloadDuringStart = true;
  };
  process.on('SIGHUP', hupDuringStart);
  const runtime = await openRuntime(name, root);
  runtime.store.dropRemainsOfDeadCommits();
  const status = await hooks.start(runtime);
  const pidFile = join(runtime.paths.run, `${name}.pid`);
  mkdirSync(runtime.paths.run, { recursive: true });
  const sections = hooks.sections === 'every commit' ? hooks.sections : [...sectionsOfEveryService, ...hooks.sections];
  writeFileSync(sectionsFile(runtime.paths.run, name), JSON.stringify(sections));
  writeFileSync(pidFile, String(process.pid));
  await systemd.ready(status);
  const watchdogMs = systemd.startWatchdog();
  runtime.logger.info({ status, watchdogMs, revision: runtime.store.committed().meta.revision }, `${name} ready`);

  // A service lives until it is told to stop, whether or not it holds sockets open.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      await systemd.reloading();
      try {
        const revision = runtime.refresh();
        const reloadedStatus = await hooks.reload(runtime);
        runtime.logger.info({ revision: revision.meta.revision }, `${name} reloaded`);
        await systemd.ready(reloadedStatus);
      } catch (err) {
        runtime.logger.error({ err }, `${name} reload failed; the previous settings stay in force`);
        await systemd.ready(`reload failed: ${(err as Error).message}`);
      }
    });
  });
  process.off('SIGHUP', hupDuringStart);
  if (reloadDuringStart) process.emit('SIGHUP', 'SIGHUP');
  let serving = Promise.resolve();
  process.on('SIGUSR2', () => {
    serving = serving.then(() => serveRequests(runtime.paths.run, name, hooks.actions ?? {})).catch((err) => runtime.logger.error({ err }, 'console request failed'));
  });
  const shutdown = async (signal: string) => {
    runtime.logger.info({ signal }, `${name} stopping`);
    await systemd.stopping();
    await hooks.stop(runtime);
    clearInterval(keepAlive);
    rmSync(pidFile, { force: true });
    rmSync(sectionsFile(runtime.paths.run, name), { force: true });
    runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return runtime;
}

/** Whether the named service runs: its pid file names a live process. */
export function isServiceRunning(runDir: string, name: string): boolean {
  try {
    process.kill(Number.parseInt(readFileSync(join(runDir, `${name}.pid`), 'utf8'), 10), 0);
    return true;
  } catch {
    return false;
  }
}

const sectionsFile = (runDir: string, name: string) => join(runDir, `${name}.sections.json`);

/** Whether a service that declared `sections` must reload for a commit that changed `changed` (a service that declared nothing always does). */
function concerns(runDir: string, name: string, changed: readonly string[] | undefined): boolean {
  if (!changed) return true;
  try {
    const sections = JSON.parse(readFileSync(sectionsFile(runDir, name), 'utf8')) as string[] | 'every commit';
    return sections === 'every commit' || sections.some((s) => changed.includes(s));
  } catch {
    return true;
  }
}

/**
 * Asks the running services to reload the committed configuration: those whose
 * sections `changed` touches, or all of them without it. Returns the ones told.
 */
export function signalServicesToReload(runDir: string, changed?: readonly string[]): string[] {
  const told: string[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(runDir).filter((f) => f.endsWith('.pid'));
  } catch {
    return told;
  }
  for (const file of files) {
    const name = file.replace(/\.pid$/, '');
    if (!concerns(runDir, name, changed)) continue;
    const pid = Number.parseInt(readFileSync(join(runDir, file), 'utf8'), 10);
    try {
      process.kill(pid, 'SIGHUP');
      told.push(name);
    } catch {
      rmSync(join(runDir, file), { force: true }); // the service is gone
    }
  }
  return told;
}

/** After revision `revision` was committed: tells the services whose sections it changed (all of them when the one before is not kept). */
export function reloadServicesFor(runtime: Pick<Runtime, 'store' | 'paths'>, revision: number): string[] {
  let changed: string[] | undefined;
  try {
    changed = changedSections(runtime.store.revision(revision - 1).config, runtime.store.revision(revision).config);
  } catch {
    changed = undefined;
  }
  return signalServicesToReload(runtime.paths.run, changed);
}
