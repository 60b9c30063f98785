// Messages the appliance writes itself (bounces, alerts) enter the queue the
// way accepted mail does: one durable file in incoming/, envelope line first.
// Their MIDs come from a counter of the delivery service's own, in a range of
// its own (from 10^9): the gateway's counter lives in another process.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../../os/atomic-file.js';
import { IdCounter, type IdCounterOptions } from '../id-counter.js';
import { type Envelope, generatedMidBase, highestSpooledMid } from '../spool.js';
import type { QueueStore } from './queue-store.js';

export function generatedMids(spoolDir: string, onUnreadable?: IdCounterOptions['onUnreadable']): IdCounter {
  const path = join(spoolDir, 'next-generated-mid');
  if (!existsSync(path)) writeFileDurably(path, String(generatedMidBase));
  return new IdCounter(path, { inUse: () => highestSpooledMid(spoolDir, generatedMidBase, Number.POSITIVE_INFINITY), ...(onUnreadable ? { onUnreadable } : {}) });
}

export function injectMessage(store: QueueStore, mids: IdCounter, envelope: Omit<Envelope, 'mid' | 'icid' | 'receivedAt' | 'clientAddress'>, message: string): number {
  const mid = mids.take();
  const full: Envelope = { mid, icid: 0, clientAddress: '127.0.0.1', receivedAt: new Date().toISOString(), ...envelope };
  writeFileDurably(store.path('incoming', mid), `${JSON.stringify(full)}\n${message}`);
  return mid;
}
