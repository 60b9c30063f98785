// Connection and AUTH abuse limits, per listener and per client address, in the
// manner of Postfix's anvil and smtpd error limits: the decisions are pure
// functions of counts; the counts live behind `AbuseCounterStore`, so that a
// shared store (NATS KV, one bucket per cluster) can replace the in-process one
// when several worker processes serve one listener. Every key starts with the
// listener's name, so two listeners never share a count.
//
// A shared store must keep each operation atomic (increment-and-read, start-or-
// extend a block), as the in-process one does by running to completion.
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Alert } from '../os/alerts.js';
import type { LogSubscriptions } from '../os/logging/subscriptions.js';
import type { EffectivePolicy } from './mail-flow-policy.js';
import { logMailEvent, type MailLogWriter } from './mail-log.js';
import { type SmtpReplyError, smtpError } from './smtp-replies.js';

/** The abuse fields of a mail flow policy (their meaning: src/mail/README.md, "Abuse limits"). */
export type AbuseLimits = Pick<
  EffectivePolicy,
  | 'errorSleepMs'
  | 'softErrorLimit'
  | 'hardErrorLimit'
  | 'errorWindowSeconds'
  | 'authFailureLimit'
  | 'authFailureLimitPerUser'
  | 'authFailureWindowSeconds'
  | 'authBlockSeconds'
  | 'connectionCountLimit'
  | 'connectionRateLimit'
>;

// ---------------------------------------------------------------------------
// Pure decisions

/**
 * The client a count belongs to: an IPv4 address, or the /64 of an IPv6 one. A
 * /64 is the smallest network a site gets, and one host can take any address in
 * it: counting single IPv6 addresses would let one client reset every limit.
 */
export function clientKey(ip: string): string {
  const address = ip.replace(/^::ffff:(?=\d+\.)/i, '');
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

export type ConnectionDecision = { admit: true } | { admit: false; reason: 'count' | 'rate' };

/** Whether a new connection may start, given the address's open connections and its connections this minute (the new one included). */
export function decideConnection(open: number, thisMinute: number, limits: Pick<AbuseLimits, 'connectionCountLimit' | 'connectionRateLimit'>): ConnectionDecision {
  if (limits.connectionRateLimit > 0 && thisMinute > limits.connectionRateLimit) return { admit: false, reason: 'rate' };
  if (open >= limits.connectionCountLimit) return { admit: false, reason: 'count' };
  return { admit: true };
}

/**
 * Before each command of an address that has made `errors` errors: how long to
 * wait, and whether to close. Up to the soft limit nothing waits; past it each
 * command waits errorSleepMs times the errors beyond the soft limit (1 s, 2 s, …
 * with Postfix's defaults); at the hard limit the session ends with 421.
 */
export function decideAfterErrors(errors: number, limits: Pick<AbuseLimits, 'errorSleepMs' | 'softErrorLimit' | 'hardErrorLimit'>): { delayMs: number; close: boolean } {
  if (errors >= limits.hardErrorLimit) return { delayMs: 0, close: true };
  if (errors <= limits.softErrorLimit) return { delayMs: 0, close: false };
  return { delayMs: limits.errorSleepMs * (errors - limits.softErrorLimit), close: false };
}

/**
 * After a failed AUTH. `addressFailures` and `userFailures` include this one.
 * A guessed password is the one error slowed from the first: the reply waits
 * errorSleepMs times the address's failures. The address is blocked when it
 * reaches its own limit, or when it fails for a user name that has failed more
 * than its limit from anywhere (a spread-out attack): only failing addresses
 * are blocked, never the user, whose right password from a clean address works.
 */
export function decideAuthFailure(
  addressFailures: number,
  userFailures: number,
  limits: Pick<AbuseLimits, 'errorSleepMs' | 'authFailureLimit' | 'authFailureLimitPerUser'>,
): { delayMs: number; block: 'address' | 'user' | undefined } {
  const block = addressFailures >= limits.authFailureLimit ? 'address' : userFailures > limits.authFailureLimitPerUser ? 'user' : undefined;
  return { delayMs: block ? limits.errorSleepMs : limits.errorSleepMs * addressFailures, block };
}

// ---------------------------------------------------------------------------
// The counter store

export interface AbuseCounterStore {
  /** Counts one event under `key` in a fixed window that starts at its first event (Postfix anvil's way); returns the count with this one. */
  hit(key: string, now: number, windowMs: number): Promise<number>;
  /** The count in the current window (0 once it has passed). */
  count(key: string, now: number): Promise<number>;
  clear(key: string): Promise<void>;
  /** Starts a block, or extends one in force, until `until`; true when it starts. */
  block(key: string, now: number, until: number): Promise<boolean>;
  /** When the block under `key` ends; undefined when none is in force. */
  blockedUntil(key: string, now: number): Promise<number | undefined>;
  /** One more concurrent holder of `key`; returns how many there are now. */
  acquire(key: string): Promise<number>;
  release(key: string): Promise<void>;
}

/** The store of one process. Bounded: past `maxKeys` counters, expired ones go first, then the oldest. */
export class InProcessCounterStore implements AbuseCounterStore {
  private readonly counters = new Map<string, { start: number; end: number; count: number }>();
  private readonly blocks = new Map<string, number>();
  private readonly holders = new Map<string, number>();

  constructor(private readonly maxKeys = 100_000) {}

  async hit(key: string, now: number, windowMs: number): Promise<number> {
    let counter = this.counters.get(key);
    if (!counter || now >= counter.end) {
      this.counters.delete(key);
      counter = { start: now, end: now + windowMs, count: 0 };
      this.counters.set(key, counter);
      this.bound(this.counters, now, (c) => c.end);
    }
    counter.count++;
    return counter.count;
  }

  async count(key: string, now: number): Promise<number> {
    const counter = this.counters.get(key);
    return counter && now < counter.end ? counter.count : 0;
  }

  async clear(key: string): Promise<void> {
    this.counters.delete(key);
  }

  async block(key: string, now: number, until: number): Promise<boolean> {
    const current = this.blocks.get(key);
    const starts = current === undefined || current <= now;
    this.blocks.set(key, Math.max(until, current ?? 0));
    if (starts) this.bound(this.blocks, now, (end) => end);
    return starts;
  }

  async blockedUntil(key: string, now: number): Promise<number | undefined> {
    const until = this.blocks.get(key);
    return until !== undefined && until > now ? until : undefined;
  }

  async acquire(key: string): Promise<number> {
    const n = (this.holders.get(key) ?? 0) + 1;
    this.holders.set(key, n);
    return n;
  }

  async release(key: string): Promise<void> {
    const n = (this.holders.get(key) ?? 1) - 1;
    if (n > 0) this.holders.set(key, n);
    else this.holders.delete(key);
  }

  private bound<V>(map: Map<string, V>, now: number, endOf: (v: V) => number): void {
    if (map.size <= this.maxKeys) return;
    for (const [k, v] of map) if (endOf(v) <= now) map.delete(k);
    for (const k of map.keys()) {
      if (map.size <= this.maxKeys) break;
      map.delete(k);
    }
  }
}

// ---------------------------------------------------------------------------
// The guard a listener's sessions use

export interface AbuseSinks {
  logs: Pick<LogSubscriptions, 'write'>;
  alerts?: { raise(alert: Alert): unknown };
  store?: AbuseCounterStore;
}

/** What the patched smtp-server asks before each command and tells after each error reply (smtp-server-patches.ts). */
export interface SessionAbuseHooks {
  beforeCommand(): { delayMs: number; refuse?: SmtpReplyError };
  errorReplied(code: number): void;
}

const minuteMs = 60_000;
/** A count a shared store failed to take is lost, never the session: mail does not wait on the cluster. */
const ignore = () => {};
const storesOf = new WeakMap<object, AbuseCounterStore>();

/** One in-process store per gateway (its dependencies object), shared by every endpoint a reload makes. */
export function storeFor(owner: object, given?: AbuseCounterStore): AbuseCounterStore {
  if (given) return given;
  let store = storesOf.get(owner);
  if (!store) {
    store = new InProcessCounterStore();
    storesOf.set(owner, store);
  }
  return store;
}

export const abuseReplies = {
  tooManyFromAddress: (limit: number) => smtpError(421, '4.7.0', `Too many connections from your address (at most ${limit} at once), try again later`),
  connectionRate: (limit: number) => smtpError(421, '4.7.0', `Too many connections from your address (at most ${limit} a minute), try again later`),
  tooManyErrors: () => smtpError(421, '4.7.0', 'Too many errors, closing the connection'),
  authBlocked: () => smtpError(454, '4.7.0', 'Too many failed authentication attempts from your address, try again later'),
  authBlockStarts: () => smtpError(421, '4.7.0', 'Too many failed authentication attempts from your address, closing the connection'),
};

export class AbuseGuard {
  private readonly store: AbuseCounterStore;

  constructor(
    private readonly listener: string,
    private readonly sinks: AbuseSinks,
    owner: object,
    private readonly now: () => number = Date.now,
  ) {
    this.store = storeFor(owner, sinks.store);
  }

  private key(kind: string, subject: string): string {
    return `${this.listener}|${kind}|${subject}`;
  }

  private readonly log: MailLogWriter = (name, fields) => logMailEvent(this.sinks.logs, 'warning', name, fields);

  /** Logs every refusal; the alert only when a block starts. */
  private async blockStarts(kind: string, subject: string, until: number, subjectLine: string, detail: string): Promise<void> {
    if (!(await this.store.block(this.key(`block-${kind}`, subject), this.now(), until))) return;
    this.sinks.alerts?.raise({ severity: 'warning', class: 'mail', subject: `${subjectLine} on listener ${this.listener}`, detail });
  }

  /**
   * Takes a connection place for the address, or refuses the connection with 421
   * (written on the socket, which is then ended). Every connection counts against
   * the rate, refused ones too: a client that keeps hammering stays refused.
   */
  async admit(socket: Socket, ip: string, icid: number, limits: AbuseLimits): Promise<{ release(): void } | undefined> {
    const client = clientKey(ip);
    const now = this.now();
    const thisMinute = await this.store.hit(this.key('rate', client), now, minuteMs);
    const open = await this.store.acquire(this.key('open', client));
    const decision = decideConnection(open - 1, thisMinute, limits);
    if (!decision.admit) {
      await this.store.release(this.key('open', client));
      const rate = decision.reason === 'rate';
      const reply = rate ? abuseReplies.connectionRate(limits.connectionRateLimit) : abuseReplies.tooManyFromAddress(limits.connectionCountLimit);
      const what = rate ? `${thisMinute} connections this minute (limit ${limits.connectionRateLimit})` : `${open - 1} open connections (limit ${limits.connectionCountLimit})`;
      this.log('connection.refused', { icid, ip, what, reply: `${reply.responseCode} ${reply.message}` });
      await this.blockStarts(
        rate ? 'rate' : 'count',
        client,
        now + minuteMs,
        `connections from ${client} refused: ${rate ? 'connection rate' : 'connection count'} limit`,
        `${what}; refused with ${reply.responseCode} ${reply.message.slice(0, 5)} until it falls below the limit`,
      );
      socket.end(`${reply.responseCode} ${reply.message}\r\n`);
      return undefined;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.store.release(this.key('open', client)).catch(ignore);
    };
    socket.once('close', release);
    return { release };
  }

  /** The hooks of one session: error counting and the AUTH gate, all per address. */
  session(ip: string, icid: number, limits: AbuseLimits): SessionLimits {
    return new SessionLimits(this, ip, icid, limits);
  }

  /** @internal */ async errors(ip: string, add: boolean, limits: AbuseLimits): Promise<number> {
    const key = this.key('errors', clientKey(ip));
    return add ? this.store.hit(key, this.now(), limits.errorWindowSeconds * 1000) : this.store.count(key, this.now());
  }

  /** @internal */ async clearErrors(ip: string): Promise<void> {
    await this.store.clear(this.key('errors', clientKey(ip)));
  }

  /** @internal */ async hardLimitReached(ip: string, icid: number, errors: number, limits: AbuseLimits): Promise<void> {
    const client = clientKey(ip);
    this.log('connection.error-limit', { icid, ip, errors, limit: limits.hardErrorLimit });
    await this.blockStarts(
      'errors',
      client,
      this.now() + limits.errorWindowSeconds * 1000,
      `${client} reached the hard error limit`,
      `${errors} errors without delivering mail; sessions from it end at their first command until the count expires`,
    );
  }

  /** @internal */ async authBlockedUntil(ip: string): Promise<number | undefined> {
    return this.store.blockedUntil(this.key('auth-block', clientKey(ip)), this.now());
  }

  /** @internal */ async authFailure(ip: string, icid: number, username: string, limits: AbuseLimits): Promise<{ delayMs: number; blocked: boolean }> {
    const client = clientKey(ip);
    const now = this.now();
    const windowMs = limits.authFailureWindowSeconds * 1000;
    const user = username.trim().toLowerCase().slice(0, 256);
    const addressFailures = await this.store.hit(this.key('auth-fail', client), now, windowMs);
    const userFailures = await this.store.hit(this.key('auth-user', user), now, windowMs);
    const decision = decideAuthFailure(addressFailures, userFailures, limits);
    if (!decision.block) return { delayMs: decision.delayMs, blocked: false };
    const until = now + limits.authBlockSeconds * 1000;
    const started = await this.store.block(this.key('auth-block', client), now, until);
    const why =
      decision.block === 'address'
        ? `${addressFailures} failed AUTH attempts from the address (limit ${limits.authFailureLimit})`
        : `a failed AUTH for user name "${user}", which failed ${userFailures} times from all addresses (limit ${limits.authFailureLimitPerUser})`;
    if (started) this.log('auth.blocked', { icid, ip, seconds: limits.authBlockSeconds, why });
    // One alert per block start: for an address blocked by its own failures; for a spread-out attack, one per user name attacked.
    if (started && decision.block === 'address') {
      this.sinks.alerts?.raise({
        severity: 'warning',
        class: 'mail',
        subject: `SMTP AUTH from ${client} blocked on listener ${this.listener}`,
        detail: `${why}; AUTH from it answers 454 4.7.0 until ${new Date(until).toISOString()}`,
      });
    }
    if (started && decision.block === 'user') {
      await this.blockStarts(
        'user',
        user,
        until,
        `SMTP AUTH for user name "${user}" failing from many addresses`,
        `${userFailures} failures within ${limits.authFailureWindowSeconds} s; each address that fails for it is blocked for ${limits.authBlockSeconds} s (the user's own login from other addresses is not)`,
      );
    }
    return { delayMs: decision.delayMs, blocked: true };
  }
}

/** One session's view of the abuse limits; the endpoint and the smtp-server patches call it. */
export class SessionLimits implements SessionAbuseHooks {
  /** The address's error count as last read from the store (updated at each error; read once at the start). */
  private errors = 0;
  private closing = false;

  constructor(
    private readonly guard: AbuseGuard,
    private readonly ip: string,
    private readonly icid: number,
    private readonly limits: AbuseLimits,
  ) {
    guard.errors(ip, false, limits).then((n) => {
      this.errors = Math.max(this.errors, n);
    }, ignore);
  }

  beforeCommand(): { delayMs: number; refuse?: SmtpReplyError } {
    const decision = decideAfterErrors(this.errors, this.limits);
    if (decision.close && !this.closing) {
      this.closing = true;
      this.guard.hardLimitReached(this.ip, this.icid, this.errors, this.limits).catch(ignore);
    }
    return decision.close ? { delayMs: 0, refuse: abuseReplies.tooManyErrors() } : { delayMs: decision.delayMs };
  }

  errorReplied(code: number): void {
    if (code < 400 || code === 421) return; // 421 ends the session itself
    this.errors++;
    this.guard.errors(this.ip, true, this.limits).then((n) => {
      this.errors = Math.max(this.errors, n);
    }, ignore);
  }

  /** "Without delivering mail": an accepted message clears the address's errors, as in Postfix. */
  messageAccepted(): void {
    this.errors = 0;
    this.guard.clearErrors(this.ip).catch(ignore);
  }

  /** Before the password is checked: a blocked address gets 454 4.7.0, whatever it sends, and the directory is not asked. */
  async beforeAuth(): Promise<SmtpReplyError | undefined> {
    return (await this.guard.authBlockedUntil(this.ip)) ? abuseReplies.authBlocked() : undefined;
  }

  /** After a wrong password: waits, then gives `reply`, or 421 4.7.0 when this failure starts a block. */
  async authFailed(username: string, reply: SmtpReplyError): Promise<SmtpReplyError> {
    const { delayMs, blocked } = await this.guard.authFailure(this.ip, this.icid, username, this.limits);
    if (delayMs > 0) await sleep(delayMs);
    return blocked ? abuseReplies.authBlockStarts() : reply;
  }
}
