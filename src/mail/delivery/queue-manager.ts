// The queue manager, after Postfix's qmgr: it picks messages up from incoming/,
// delivers each recipient group over its destination's route, records every
// outcome durably, defers what failed temporarily with exponential back-off,
// bounces what failed permanently or stayed too long, and removes a message
// once nothing is left to do. It is the only writer of queue state: the queue
// commands of other processes leave requests in requests/ that it applies.
import { type FSWatcher, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Alert } from '../../os/alerts.js';
import type { ApplianceConfig } from '../../os/config/schema.js';
import type { LogSubscriptions } from '../../os/logging/subscriptions.js';
import { domainOf } from '../address.js';
import type { IdCounter } from '../id-counter.js';
import { logMailEvent, type MailLogWriter } from '../mail-log.js';
import type { Envelope } from '../spool.js';
import { ConnectionCache } from './connection-cache.js';
import type { HsmSign } from './dkim-signer.js';
import { buildDsn, statusOf } from './dsn.js';
import { headerValue, parseHeaderBlock } from './headers.js';
import { injectMessage } from './inject.js';
import { prepareOutgoing } from './outgoing.js';
import { CorruptQueueFile, type MessageStatus, type QueueState, type QueueStore, type RecipientStatus } from './queue-store.js';
import type { QueueRequest } from './requests.js';
import { type Destination, type MxResolver, NoRouteError, Router } from './routes.js';
import { attemptDelivery, type Outcome } from './smtp-attempt.js';

export interface DeliveryOptions {
  store: QueueStore;
  config: () => ApplianceConfig;
  logs: Pick<LogSubscriptions, 'write'>;
  dcids: IdCounter;
  /** MIDs for bounces and alert mail. */
  mids: IdCounter;
  sign?: HsmSign;
  resolver?: MxResolver;
  /** Trusted CAs for routes with `required-verify`. */
  ca?: () => string[];
  /** Back-off: the first retry after `firstMs`, doubling up to `maxMs` (Postfix: 300 s and 4000 s). */
  retry?: { firstMs: number; maxMs: number };
  /** Overrides routes.maxQueueHours (tests). */
  maxQueueMs?: number;
  /** How often incoming/, requests/ and due deferred mail are looked at. */
  scanMs?: number;
  perDestination?: number;
  /** Messages held by the manager at once (metadata only; contents are read per attempt). */
  maxActive?: number;
  timeouts?: { connectMs: number; greetingMs: number; socketMs: number };
  /** Where the administrator hears of a message set aside as corrupt. */
  alerts?: { raise(alert: Alert): unknown };
}

class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async take(): Promise<() => void> {
    if (this.used >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.used++;
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}

/** The wait after the n-th failed attempt: firstMs, doubling each time, at most maxMs. */
export function backoffMs(attempts: number, retry: { firstMs: number; maxMs: number }): number {
  return Math.min(retry.maxMs, retry.firstMs * 2 ** Math.max(0, attempts - 1));
}

const reason = (err: unknown) => (err as Error).message ?? String(err);

export class QueueManager {
  private readonly store: QueueStore;
  private readonly deferred = new Map<number, number>(); // MID → when due
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly destinations = new Map<string, Slots>();
  private readonly dead = new Map<string, { until: number; reply: string }>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private ticking = false;
  /** A scan was asked for while one ran, or the last scan left mail behind for want of room. */
  private again = false;
  private starved = false;
  private readonly retry: { firstMs: number; maxMs: number };
  private readonly connections = new ConnectionCache((cached) => this.event('delivery.close', { dcid: cached.dcid }));

  constructor(private readonly options: DeliveryOptions) {
    this.store = options.store;
    this.retry = options.retry ?? { firstMs: 300_000, maxMs: 4_000_000 };
  }

  /** Recovers the queue as a crash left it, then runs. */
  start(): void {
    this.store.sweep();
    for (const mid of this.store.list('active')) this.launch(mid, 'active');
    for (const mid of this.store.list('deferred')) {
      const due = Date.parse(this.store.readStatus(mid)?.nextAttemptAt ?? '');
      this.deferred.set(mid, Number.isFinite(due) ? due : Date.now());
    }
    this.timer = setInterval(() => void this.tick(), this.options.scanMs ?? 1000);
    try {
      // New mail is picked up as soon as the gateway renames it in, not at the next scan.
      this.watcher = watch(join(this.store.root, 'incoming'), () => void this.tick());
      this.watcher.on('error', () => {});
    } catch {} // no inotify: the periodic scan still runs
    void this.tick();
  }

  /** Stops picking up mail and waits for the attempts under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    await Promise.allSettled(this.inFlight.values());
    this.connections.closeAll();
  }

  /** Makes every deferred message due now and forgets dead destinations (the `flush` command). */
  flush(): void {
    for (const mid of this.deferred.keys()) this.deferred.set(mid, Date.now());
    this.dead.clear();
    void this.tick();
  }

  get activeCount(): number {
    return this.inFlight.size;
  }

  /** A line of no message (queue scans, flushes). */
  private log(line: string, level: 'info' | 'warning' = 'info'): void {
    this.options.logs.write('mail', level, line);
  }

  private readonly event: MailLogWriter = (name, fields) => logMailEvent(this.options.logs, 'info', name, fields);

  private warning: MailLogWriter = (name, fields) => logMailEvent(this.options.logs, 'warning', name, fields);

  private async tick(): Promise<void> {
    if (!this.timer) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    this.again = false;
    this.starved = false;
    try {
      await this.applyRequests();
      const room = () => (this.options.maxActive ?? 1000) - this.inFlight.size;
      const now = Date.now();
      for (const [mid, due] of this.deferred) {
        if (room() <= 0) {
          this.starved = true;
          break;
        }
        if (due > now) continue;
        this.deferred.delete(mid);
        if (this.store.move(mid, 'deferred', 'active')) this.launch(mid, 'active');
      }
      for (const mid of this.store.list('incoming')) {
        if (room() <= 0) {
          this.starved = true;
          break;
        }
        if (this.inFlight.has(mid)) continue;
        if (this.store.move(mid, 'incoming', 'active')) this.launch(mid, 'active', true);
      }
    } catch (err) {
      this.log(`queue scan failed: ${reason(err)}`, 'warning');
    } finally {
      this.ticking = false;
      if (this.again) setImmediate(() => void this.tick());
    }
  }

  private launch(mid: number, state: QueueState, fresh = false): void {
    const run = this.deliver(mid, state, fresh)
      .catch((err) => {
        if (err instanceof CorruptQueueFile) {
          // Postfix's corrupt/ queue: kept for the administrator, never retried, never lost.
          const where = this.store.quarantine(mid, 'active');
          this.warning('message.corrupt', { mid, reason: reason(err) });
          this.options.alerts?.raise({
            severity: 'warning',
            class: 'mail',
            subject: `MID ${mid}: a spool file could not be read and was set aside`,
            detail: `${reason(err)}; it was moved to ${where} and will not be delivered.`,
          });
          return;
        }
        // An error of ours (the HSM refusing to sign, a full disk): retried like a temporary failure.
        this.warning('message.internal-error', { mid, reason: reason(err) });
        if (this.store.move(mid, 'active', 'deferred')) this.deferred.set(mid, Date.now() + this.retry.firstMs);
      })
      .finally(() => {
        this.inFlight.delete(mid);
        if (this.starved) void this.tick();
      });
    this.inFlight.set(mid, run);
  }

  private statusFor(mid: number, envelope: Envelope): MessageStatus {
    return this.store.readStatus(mid) ?? { mid, attempts: 0, recipients: envelope.rcptTo.map((address) => ({ address, state: 'pending' })) };
  }

  private async deliver(mid: number, state: QueueState, fresh: boolean): Promise<void> {
    const config = this.options.config();
    const queued = await this.store.read(state, mid);
    const { envelope } = queued;
    if (fresh) {
      const fields = parseHeaderBlock(queued.headerBlock);
      this.event('message.subject', { mid, subject: headerValue(fields, 'subject') ?? '' });
      const messageId = headerValue(fields, 'message-id');
      if (messageId) this.event('message.message-id', { mid, messageId });
    }
    const status = this.statusFor(mid, envelope);
    status.attempts++;
    status.firstAttemptAt ??= new Date().toISOString();
    const pending = status.recipients.filter((r) => r.state === 'pending');
    const router = new Router(config.routes, this.options.resolver);
    const groups = new Map<string, { destination: Destination | NoRouteError; recipients: RecipientStatus[] }>();
    const resolved = new Map<string, Destination | NoRouteError>();
    for (const recipient of pending) {
      const domain = domainOf(recipient.address);
      let destination = resolved.get(domain);
      if (!destination) {
        try {
          destination = await router.resolve(domain);
        } catch (err) {
          destination = err instanceof NoRouteError ? err : new NoRouteError(reason(err), false);
        }
        resolved.set(domain, destination);
      }
      const key = destination instanceof NoRouteError ? `error:${domain}` : destination.key;
      const group = groups.get(key) ?? { destination, recipients: [] };
      group.recipients.push(recipient);
      groups.set(key, group);
    }
    const newlyBounced: RecipientStatus[] = [];
    await Promise.all(
      [...groups.values()].map(async ({ destination, recipients }) => {
        const outcomes = await this.attemptGroup(mid, queued.envelope, state, destination, recipients, config);
        for (const r of recipients) {
          const outcome = outcomes.outcomes.get(r.address) ?? { kind: 'deferred', reply: 'no outcome' };
          const rid = envelope.rcptTo.indexOf(r.address);
          r.reply = outcome.reply;
          if (outcomes.host) r.remoteHost = outcomes.host;
          if (outcome.kind === 'delivered') r.state = 'delivered';
          else if (outcome.kind === 'bounced') {
            r.state = 'bounced';
            newlyBounced.push(r);
            this.event('delivery.bounced', { dcid: outcomes.dcid, mid, rid, status: statusOf(outcome.reply), reply: outcome.reply });
          } else this.event('delivery.delayed', { dcid: outcomes.dcid, mid, rid, status: statusOf(outcome.reply), reply: outcome.reply });
        }
      }),
    );
    const maxQueueMs = this.options.maxQueueMs ?? config.routes.maxQueueHours * 3_600_000;
    const age = Date.now() - Date.parse(envelope.receivedAt);
    const stillPending = status.recipients.filter((r) => r.state === 'pending');
    if (stillPending.length > 0 && age >= maxQueueMs) {
      this.event('message.expired', { mid, ageSeconds: Math.round(age / 1000), maxSeconds: Math.round(maxQueueMs / 1000) });
      for (const r of stillPending) {
        r.state = 'bounced';
        r.reply = `${r.reply ?? '4.4.7 no attempt succeeded'} (message expired in the queue)`;
        newlyBounced.push(r);
        this.event('message.bounced', { mid, rid: envelope.rcptTo.indexOf(r.address), status: statusOf(r.reply), why: 'delivery time expired' });
      }
    }
    this.settle(mid, queued.headerBlock, envelope, status, newlyBounced, config);
  }

  /** Records what happened, bounces, and removes the message or defers it. The bounce is queued before the status says "bounced". */
  private settle(mid: number, headers: string, envelope: Envelope, status: MessageStatus, bounced: RecipientStatus[], config: ApplianceConfig): void {
    if (bounced.length > 0) this.sendBounce(mid, headers, envelope, bounced, config);
    if (status.recipients.every((r) => r.state !== 'pending')) {
      this.store.remove(mid, 'active');
      this.event('message.finished', { mid });
      return;
    }
    const delay = backoffMs(status.attempts, this.retry);
    status.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    this.store.writeStatus(status);
    this.store.move(mid, 'active', 'deferred');
    this.deferred.set(mid, Date.now() + delay);
    this.event('message.deferred', { mid, at: status.nextAttemptAt });
  }

  private sendBounce(mid: number, headers: string, envelope: Envelope, bounced: RecipientStatus[], config: ApplianceConfig): void {
    if (envelope.mailFrom === '') {
      this.event('message.no-bounce', { mid });
      return;
    }
    const dsn = buildDsn({
      reportingMta: config.system.hostname,
      mid,
      originalSender: envelope.mailFrom,
      arrivalDate: new Date(envelope.receivedAt),
      originalHeaders: headers,
      recipients: bounced.map((r) => ({ address: r.address, reply: r.reply ?? '', action: 'failed', ...(r.remoteHost ? { remoteHost: r.remoteHost } : {}) })),
    });
    const dsnMid = injectMessage(this.store, this.options.mids, { listener: envelope.listener, mailFrom: '', rcptTo: [envelope.mailFrom], generated: 'bounce' }, dsn);
    this.event('message.bounce-generated', { dsnMid, mid, to: envelope.mailFrom });
  }

  private async attemptGroup(
    mid: number,
    envelope: Envelope,
    state: QueueState,
    destination: Destination | NoRouteError,
    recipients: RecipientStatus[],
    config: ApplianceConfig,
  ): Promise<{ dcid: number; host?: string; outcomes: Map<string, Outcome> }> {
    const all = (outcome: Outcome) => new Map(recipients.map((r) => [r.address, outcome]));
    if (destination instanceof NoRouteError) {
      return { dcid: 0, outcomes: all({ kind: destination.permanent ? 'bounced' : 'deferred', reply: `${destination.permanent ? '5.1.2' : '4.4.3'} ${destination.message}` }) };
    }
    const slots = this.destinations.get(destination.key) ?? new Slots(this.options.perDestination ?? 10);
    this.destinations.set(destination.key, slots);
    const release = await slots.take();
    try {
      const dead = this.dead.get(destination.key);
      if (dead && dead.until > Date.now()) return { dcid: 0, outcomes: all({ kind: 'deferred', reply: `delivery temporarily suspended: ${dead.reply}` }) };
      const path = this.store.path(state, mid);
      const queued = await this.store.read(state, mid);
      let outgoing: Awaited<ReturnType<typeof prepareOutgoing>>;
      try {
        outgoing = await prepareOutgoing(path, queued, config, this.options.sign);
      } catch (err) {
        // Typically the HSM refusing to sign: the message waits (and may expire) rather than leave unsigned.
        this.warning('message.unprepared', { mid, reason: reason(err) });
        return { dcid: 0, outcomes: all({ kind: 'deferred', reply: `4.7.0 ${reason(err)}` }) };
      }
      const rids = recipients.map((r) => envelope.rcptTo.indexOf(r.address));
      const result = await attemptDelivery({
        destination,
        mailFrom: envelope.mailFrom,
        recipients: recipients.map((r) => r.address),
        message: outgoing.stream,
        name: config.system.hostname,
        ca: this.options.ca?.() ?? [],
        dcid: () => this.options.dcids.take(),
        cache: this.connections,
        log: this.event,
        onConnected: (dcid, hop) => this.event('delivery.start', { dcid, mid, rids: rids.join(', '), host: hop.host, port: hop.port }),
        timeouts: this.options.timeouts ?? { connectMs: 30_000, greetingMs: 30_000, socketMs: 120_000 },
        smtpUtf8: { requested: envelope.smtpUtf8 === true, headerBlock: queued.headerBlock },
      });
      if (outgoing.signedWith) this.event('message.dkim', { mid, profile: outgoing.signedWith });
      if (!result.host) {
        const reply = result.outcomes.values().next().value?.reply ?? 'unreachable';
        this.dead.set(destination.key, { until: Date.now() + this.retry.firstMs, reply });
      } else {
        const delivered = recipients.filter((r) => result.outcomes.get(r.address)?.kind === 'delivered');
        if (delivered.length > 0) {
          const reply = result.outcomes.get(delivered[0]?.address ?? '')?.reply ?? '';
          this.event('delivery.done', { dcid: result.dcid, mid, rids: delivered.map((r) => envelope.rcptTo.indexOf(r.address)).join(', '), reply });
        }
      }
      return { dcid: result.dcid, ...(result.host ? { host: result.host.host } : {}), outcomes: result.outcomes };
    } finally {
      release();
    }
  }

  /** Applies the queue commands other processes left; a request about a message being delivered waits for the next scan. */
  private async applyRequests(): Promise<void> {
    for (const file of readdirSync(this.store.requestsDir).filter((f) => f.endsWith('.json'))) {
      const path = join(this.store.requestsDir, file);
      let request: QueueRequest;
      try {
        request = JSON.parse(readFileSync(path, 'utf8')) as QueueRequest;
      } catch {
        continue; // being written
      }
      if (request.action === 'flush') {
        rmSync(path, { force: true });
        this.log('Queue flush requested');
        this.flush();
        continue;
      }
      if (await this.applyRequest(request)) rmSync(path, { force: true });
    }
  }

  private async applyRequest(request: Exclude<QueueRequest, { action: 'flush' }>): Promise<boolean> {
    const config = this.options.config();
    const mids = request.mid !== undefined ? [request.mid] : [...this.store.list('incoming'), ...this.store.list('deferred'), ...this.inFlight.keys()];
    let done = true;
    for (const mid of mids) {
      const state = this.store.find(mid);
      if (!state) continue;
      if (this.inFlight.has(mid)) {
        done = false;
        continue;
      }
      if (state === 'active') continue;
      if (!this.store.move(mid, state, 'active')) continue;
      this.deferred.delete(mid);
      const { envelope, headerBlock: headers } = await this.store.read('active', mid);
      const status = this.statusFor(mid, envelope);
      const hit = status.recipients.filter((r) => r.state === 'pending' && (request.recipient === undefined || r.address.toLowerCase() === request.recipient.trim().toLowerCase()));
      const bounced: RecipientStatus[] = [];
      for (const r of hit) {
        const rid = envelope.rcptTo.indexOf(r.address);
        if (request.action === 'delete') {
          r.state = 'deleted';
          this.event('message.deleted', { mid, rid });
        } else {
          r.state = 'bounced';
          r.reply = '5.0.0 bounced by the administrator';
          bounced.push(r);
          this.event('message.bounced', { mid, rid, status: '5.0.0', why: 'bounced by the administrator' });
        }
      }
      if (hit.length === 0) {
        if (this.store.move(mid, 'active', state) && state === 'deferred') this.deferred.set(mid, Date.parse(status.nextAttemptAt ?? '') || Date.now());
        continue;
      }
      if (bounced.length > 0) this.sendBounce(mid, headers, envelope, bounced, config);
      if (status.recipients.every((r) => r.state !== 'pending')) {
        this.store.remove(mid, 'active');
        this.event('message.finished', { mid });
      } else {
        this.store.writeStatus(status);
        this.store.move(mid, 'active', state);
        if (state === 'deferred') this.deferred.set(mid, Date.parse(status.nextAttemptAt ?? '') || Date.now());
      }
    }
    return done;
  }
}
