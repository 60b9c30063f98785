// One delivery attempt: a message to the recipients of one destination, over
// nodemailer's SMTP connection (a cached one to the same host when there is
// one). Hosts are tried in priority order while the failure is the host's (no
// connection, no greeting, TLS refused); once a host has taken part in a
// transaction its replies decide: 2xx delivered, 5xx bounced, the rest deferred.
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { MailLogWriter } from '../mail-log.js';
import type { CachedConnection, ConnectionCache } from './connection-cache.js';
import type { Destination, NextHop } from './routes.js';
import { asciiAddress, smtpUtf8Bounce, smtpUtf8Need } from './smtputf8.js';

export type Outcome = { kind: 'delivered' | 'deferred' | 'bounced'; reply: string };

export interface AttemptResult {
  /** The connection used, or the last one tried; 0 when none was opened. */
  dcid: number;
  host?: NextHop;
  tls?: string;
  outcomes: Map<string, Outcome>;
}

export interface AttemptOptions {
  destination: Destination;
  mailFrom: string;
  recipients: string[];
  /** A fresh stream of the whole message (headers we add, then the spooled message), per host tried. */
  message: () => Readable;
  /** Our EHLO name. */
  name: string;
  /** Trusted CAs for routes that require a verified certificate. */
  ca: string[];
  dcid: () => number;
  /** Connections kept open between attempts; without it, each attempt opens and closes its own. */
  cache?: ConnectionCache;
  log: MailLogWriter;
  /** Called once a host greeted us (and TLS is up), before the transaction. */
  onConnected?: (dcid: number, hop: NextHop) => void;
  timeouts: { connectMs: number; greetingMs: number; socketMs: number };
  /** The client's SMTPUTF8 flag and the spooled header block: what decides whether a server without SMTPUTF8 can take the message. */
  smtpUtf8?: { requested: boolean; headerBlock: string };
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpError[];
}

const replyOf = (err: SmtpError) => (err.response ?? err.message).replace(/\s+/g, ' ').trim();
const classify = (err: SmtpError): Outcome => ({ kind: err.responseCode !== undefined && err.responseCode >= 500 ? 'bounced' : 'deferred', reply: replyOf(err) });

function connect(options: SMTPConnection.Options): Promise<SMTPConnection> {
  return new Promise((resolve, reject) => {
    const connection = new SMTPConnection(options);
    let settled = false;
    const fail = (err: SmtpError) => {
      if (settled) return;
      settled = true;
      connection.close();
      reject(err);
    };
    connection.on('error', fail);
    connection.connect((err) => {
      if (err) return fail(err as SmtpError);
      settled = true;
      connection.off('error', fail);
      connection.on('error', () => {}); // errors during the transaction reach send()'s callback
      resolve(connection);
    });
  });
}

function send(connection: SMTPConnection, envelope: SMTPConnection.Envelope, message: Readable): Promise<SMTPConnection.SentMessageInfo> {
  return new Promise((resolve, reject) => {
    message.once('error', (err) => {
      connection.close();
      reject(err);
    });
    connection.send(envelope, message, (err, info) => (err ? reject(err) : resolve(info)));
  });
}

/** The cache key of a host: connections are shared only between attempts with the same TLS requirement. */
const cacheKey = (hop: NextHop, tls: Destination['tls']) => `${tls} ${hop.host}:${hop.port}`;

async function open(options: AttemptOptions, hop: NextHop): Promise<CachedConnection> {
  const verify = options.destination.tls === 'required-verify';
  const dcid = options.dcid();
  options.log('delivery.connection', { dcid, host: hop.host, port: hop.port });
  try {
    const connection = await connect({
      host: hop.host,
      port: hop.port,
      name: options.name,
      connectionTimeout: options.timeouts.connectMs,
      greetingTimeout: options.timeouts.greetingMs,
      socketTimeout: options.timeouts.socketMs,
      ...(verify ? { requireTLS: true } : { opportunisticTLS: true }),
      tls: {
        ...(isIP(hop.host) ? {} : { servername: hop.host }), // SNI carries names only (RFC 6066)
        ...(verify ? { rejectUnauthorized: true, ca: options.ca, minVersion: 'TLSv1.2' } : { rejectUnauthorized: false }),
      },
    });
    const socket = (connection as unknown as { _socket?: TLSSocket })._socket;
    const tls = connection.secure && socket?.getProtocol ? `${socket.getProtocol()} ${socket.getCipher?.().name ?? ''}`.trim() : undefined;
    if (tls) options.log('delivery.tls', { dcid, protocol: tls });
    return { connection, dcid, ...(tls ? { tls } : {}), uses: 0 };
  } catch (err) {
    options.log('delivery.connection-failed', { dcid, host: hop.host, port: hop.port, reply: replyOf(err as SmtpError) });
    options.log('delivery.close', { dcid });
    throw err;
  }
}

export async function attemptDelivery(options: AttemptOptions): Promise<AttemptResult> {
  const { destination, recipients } = options;
  const outcomes = new Map<string, Outcome>();
  let lastFailure = 'no host to try';
  let lastDcid = 0;
  for (const hop of destination.hops) {
    const key = cacheKey(hop, destination.tls);
    let cached = options.cache?.take(key);
    const reused = cached !== undefined;
    if (!cached) {
      try {
        cached = await open(options, hop);
      } catch (err) {
        lastFailure = `${hop.host}:${hop.port}: ${replyOf(err as SmtpError)}`;
        continue;
      }
    }
    lastDcid = cached.dcid;
    options.onConnected?.(cached.dcid, hop);
    cached.uses++;
    let clean = false;
    let mailFrom = options.mailFrom;
    let wire = recipients;
    if (!(cached.connection as unknown as { _supportedExtensions?: string[] })._supportedExtensions?.includes('SMTPUTF8')) {
      const why = smtpUtf8Need({ requested: options.smtpUtf8?.requested ?? false, mailFrom, rcptTo: recipients, headerBlock: options.smtpUtf8?.headerBlock ?? '' });
      if (why) {
        options.log('delivery.no-smtputf8', { dcid: cached.dcid, host: hop.host, why });
        for (const r of recipients) outcomes.set(r, { kind: 'bounced', reply: smtpUtf8Bounce(hop.host, why) });
        if (options.cache) options.cache.put(key, cached);
        else cached.connection.quit();
        return { dcid: cached.dcid, host: hop, ...(cached.tls ? { tls: cached.tls } : {}), outcomes };
      }
      // Internationalized domains go out as A-labels (smtpUtf8Need has checked that every address converts).
      mailFrom = mailFrom && (asciiAddress(mailFrom) ?? mailFrom);
      wire = recipients.map((r) => asciiAddress(r) ?? r);
    }
    const original = new Map(wire.map((w, i) => [w.toLowerCase(), recipients[i] as string]));
    const ours = (address: string) => original.get(address.toLowerCase()) ?? address;
    try {
      const info = await send(cached.connection, { from: mailFrom, to: wire }, options.message());
      for (const r of info.accepted) outcomes.set(ours(String(r)), { kind: 'delivered', reply: info.response.replace(/\s+/g, ' ').trim() });
      for (const err of (info.rejectedErrors ?? []) as SmtpError[]) if (err.recipient) outcomes.set(ours(err.recipient), classify(err));
      clean = true;
    } catch (caught) {
      const err = caught as SmtpError;
      if (reused && err.responseCode === undefined) {
        // The cached connection died while idle (the next hop timed it out): not the message's fault, try a fresh one.
        options.cache?.close(cached);
        return attemptDelivery({ ...options, cache: undefined, destination: { ...destination, hops: [hop, ...destination.hops.filter((h) => h !== hop)] } });
      }
      const perRecipient = new Map((err.rejectedErrors ?? []).filter((e) => e.recipient).map((e) => [ours(e.recipient as string), classify(e)]));
      for (const r of recipients) outcomes.set(r, perRecipient.get(r) ?? classify(err));
    }
    if (clean && options.cache) options.cache.put(key, cached);
    else if (options.cache) options.cache.close(cached);
    else {
      cached.connection.quit();
      setTimeout(() => cached.connection.close(), 5000).unref();
      options.log('delivery.close', { dcid: cached.dcid });
    }
    for (const r of recipients) if (!outcomes.has(r)) outcomes.set(r, { kind: 'deferred', reply: 'no reply for this recipient' });
    return { dcid: cached.dcid, host: hop, ...(cached.tls ? { tls: cached.tls } : {}), outcomes };
  }
  for (const r of recipients) outcomes.set(r, { kind: 'deferred', reply: lastFailure });
  return { dcid: lastDcid, outcomes };
}
