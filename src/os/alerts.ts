// Alerts: something an administrator must hear about. Each alert is written to
// the system log and the process log, and queued in the alert outbox for every
// recipient who takes its severity; the delivery service mails the outbox.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { writeFileDurably } from './atomic-file.js';
import type { ApplianceConfig, Severity } from './config/schema.js';
import type { Logger } from './logging/logger.js';
import type { LogLevel, LogSubscriptions } from './logging/subscriptions.js';

export type AlertClass = 'system' | 'hardware' | 'fips' | 'crl' | 'mail';

export interface Alert {
  severity: Severity;
  class: AlertClass;
  subject: string;
  detail?: string;
}

export interface QueuedAlert extends Alert {
  id: string;
  time: string;
  hostname: string;
  from: string;
  to: string[];
}

const logLevelOf: Record<Severity, LogLevel> = { critical: 'critical', warning: 'warning', information: 'info' };

export class Alerts {
  constructor(
    private config: Pick<ApplianceConfig, 'alerts' | 'system'>,
    private readonly logs: LogSubscriptions,
    private readonly logger: Logger,
    private readonly outboxDir: string,
  ) {}

  reconfigure(config: Pick<ApplianceConfig, 'alerts' | 'system'>): void {
    this.config = config;
  }

  raise(alert: Alert): QueuedAlert {
    const queued: QueuedAlert = {
      ...alert,
      id: randomUUID(),
      time: new Date().toISOString(),
      hostname: this.config.system.hostname,
      from: this.config.alerts.fromAddress,
      to: this.config.alerts.recipients.filter((r) => r.severities.includes(alert.severity)).map((r) => r.address),
    };
    const line = `Alert (${alert.severity}, ${alert.class}): ${alert.subject}${alert.detail ? ` - ${alert.detail}` : ''}`;
    this.logs.write('system', logLevelOf[alert.severity], line);
    this.logger[alert.severity === 'critical' ? 'error' : alert.severity === 'warning' ? 'warn' : 'info']({ alert: queued }, line);
    if (queued.to.length > 0) writeFileDurably(join(this.outboxDir, `${queued.time.replace(/[:.]/g, '')}-${queued.id}.json`), JSON.stringify(queued));
    return queued;
  }
}
