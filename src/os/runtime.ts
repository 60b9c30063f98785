// What every appliance process opens first: its state paths, the configuration
// store, the committed configuration, logs and alerts, wired together.
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { Alerts } from './alerts.js';
import { factoryConfig } from './config/factory.js';
import type { ApplianceConfig } from './config/schema.js';
import { ConfigStore, type Revision } from './config/store.js';
import { createLogger, type Logger } from './logging/logger.js';
import { LogSubscriptions } from './logging/subscriptions.js';
import { type StatePaths, statePaths } from './paths.js';

export interface Runtime {
  paths: StatePaths;
  store: ConfigStore;
  logger: Logger;
  logs: LogSubscriptions;
  alerts: Alerts;
  /** The committed configuration this process runs on; replaced by `refresh`. */
  config: ApplianceConfig;
  refresh(): Revision;
  close(): void;
}

export async function openRuntime(service: string, root?: string): Promise<Runtime> {
  // Whatever started the process (a unit with UMask=0077, scripts/start, an SSH login with
  // the system's 022), nothing it creates is readable by other accounts: logs, spool, reports.
  if (isMainThread) process.umask(0o077);
  const paths = statePaths(root);
  const logger = createLogger(service);
  const store = new ConfigStore(paths.config);
  const recovered: string[] = [];
  const committed = await store.initialise(factoryConfig(), (problem, restored) =>
    recovered.push(`${problem}; running revision ${restored.revision} (${restored.comment || 'no comment'}) instead`),
  );
  let alerts: Alerts | undefined;
  const logs = new LogSubscriptions(paths.logs, committed.config.logs.subscriptions, (subscription, file) =>
    alerts?.raise({
      severity: 'information',
      class: 'system',
      subject: `log subscription ${subscription.name} removed its oldest records`,
      detail: `${file} was deleted because the subscription keeps at most ${subscription.maxFiles} files`,
    }),
  );
  alerts = new Alerts(committed.config, logs, logger, join(paths.root, 'alerts', 'outbox'));
  for (const detail of recovered) alerts.raise({ severity: 'critical', class: 'system', subject: 'the committed configuration was unusable and was replaced', detail });
  const runtime: Runtime = {
    paths,
    store,
    logger,
    logs,
    alerts,
    config: committed.config,
    refresh() {
      const revision = store.committed();
      runtime.config = revision.config;
      logs.reconfigure(revision.config.logs.subscriptions);
      alerts.reconfigure(revision.config);
      return revision;
    },
    close() {
      logs.close();
    },
  };
  return runtime;
}
