// Alerts go out by mail: each file the alert module queued in alerts/outbox/
// becomes a message in the spool, then the file is removed (a crash between
// the two sends the alert twice, never zero times).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { QueuedAlert } from '../../os/alerts.js';
import type { IdCounter } from '../id-counter.js';
import type { MailLogWriter } from '../mail-log.js';
import { injectMessage } from './inject.js';
import type { QueueStore } from './queue-store.js';

const encodeIfNeeded = (text: string) => (/^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text).toString('base64')}?=`);

export function alertMessage(alert: QueuedAlert): string {
  const subject = `[${alert.severity}] ${alert.hostname}: ${alert.subject}`.replace(/[\r\n]+/g, ' ');
  return [
    `From: <${alert.from}>`,
    `To: ${alert.to.map((a) => `<${a}>`).join(', ')}`,
    `Subject: ${encodeIfNeeded(subject)}`,
    `Date: ${new Date(alert.time).toUTCString()}`,
    `Message-ID: <alert.${alert.id}@${alert.hostname}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Severity: ${alert.severity}`,
    `Class: ${alert.class}`,
    `Time: ${alert.time}`,
    `Host: ${alert.hostname}`,
    '',
    alert.subject,
    ...(alert.detail ? ['', alert.detail] : []),
    '',
  ].join('\r\n');
}

/** Queues every alert in the outbox as mail; returns the MIDs made. */
export function mailAlerts(outboxDir: string, store: QueueStore, mids: IdCounter, log: MailLogWriter): number[] {
  let files: string[];
  try {
    files = readdirSync(outboxDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
  } catch {
    return [];
  }
  const made: number[] = [];
  for (const file of files.sort()) {
    const path = join(outboxDir, file);
    let alert: QueuedAlert;
    try {
      alert = JSON.parse(readFileSync(path, 'utf8')) as QueuedAlert;
    } catch {
      continue;
    }
    if (alert.to.length > 0) {
      const mid = injectMessage(store, mids, { listener: 'alerts', mailFrom: alert.from, rcptTo: alert.to, generated: 'alert' }, alertMessage(alert));
      log('alert.queued', { mid, subject: alert.subject, recipients: alert.to.map((a) => `<${a}>`).join(', ') });
      made.push(mid);
    }
    rmSync(path, { force: true });
  }
  return made;
}
