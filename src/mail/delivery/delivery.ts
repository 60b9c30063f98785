// The delivery side assembled: the queue manager on the spool, plus the alert
// outbox turned into mail. Used by the service and by tests alike.
import { join } from 'node:path';
import type { ApplianceConfig } from '../../os/config/schema.js';
import type { LogSubscriptions } from '../../os/logging/subscriptions.js';
import { IdCounter } from '../id-counter.js';
import { logMailEvent } from '../mail-log.js';
import { trustedCaCertificates } from '../trust-store.js';
import { mailAlerts } from './alert-mail.js';
import { generatedMids } from './inject.js';
import { type DeliveryOptions, QueueManager } from './queue-manager.js';
import { QueueStore } from './queue-store.js';

export interface DeliveryDeps extends Partial<Omit<DeliveryOptions, 'store' | 'config' | 'logs' | 'dcids' | 'mids'>> {
  spoolDir: string;
  /** alerts/outbox of the state folder; alerts found there are mailed. */
  alertOutbox?: string;
  config: () => ApplianceConfig;
  logs: Pick<LogSubscriptions, 'write'>;
  alertScanMs?: number;
}

export class Delivery {
  readonly store: QueueStore;
  readonly manager: QueueManager;
  private alertTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DeliveryDeps) {
    this.store = new QueueStore(deps.spoolDir);
    const mids = generatedMids(deps.spoolDir, ({ setAsideAs, next }) =>
      deps.alerts?.raise({
        severity: 'warning',
        class: 'mail',
        subject: 'the counter of generated MIDs was unreadable and was set aside',
        detail: `moved to ${setAsideAs}; it goes on from ${next}`,
      }),
    );
    this.manager = new QueueManager({
      ca: () => trustedCaCertificates(deps.config().certificates),
      ...deps,
      store: this.store,
      dcids: new IdCounter(join(deps.spoolDir, 'next-dcid')),
      mids,
    });
    this.mids = mids;
  }

  private readonly mids: IdCounter;

  start(): void {
    this.manager.start();
    const outbox = this.deps.alertOutbox;
    if (outbox) {
      const scan = () => {
        try {
          mailAlerts(outbox, this.store, this.mids, (name, fields) => logMailEvent(this.deps.logs, 'info', name, fields));
        } catch (err) {
          this.deps.logs.write('mail', 'warning', `alert outbox scan failed: ${(err as Error).message}`);
        }
      };
      scan();
      this.alertTimer = setInterval(scan, this.deps.alertScanMs ?? 5000);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.alertTimer);
    await this.manager.stop();
  }
}
