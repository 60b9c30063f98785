// The mail log's one grammar. Every line about a connection or a message is a named
// event with fields, written as the AsyncOS-style line people read
// ("MID 12 ICID 34 From: <a@b>") and parsed back by the same template, so writers,
// findevent and anything that tracks messages agree on one format.
//
// A template's {field} is a whole number when its name is an id or a count (mid,
// icid, rid, dcid, bytes, port, …), a JSON string when written {field:json}, and
// otherwise text up to the literal that follows it.
import type { LogLevel, LogSubscriptions } from '../os/logging/subscriptions.js';

const templates = {
  // Reception: connections (ICID), then messages (MID)
  'connection.new': 'New SMTP ICID {icid} interface {listener} ({address}:{port}) address {ip} reverse dns host {reverse} verified {verified}',
  'connection.rejected': 'ICID {icid} REJECT: {reply}',
  'connection.policy': 'ICID {icid} {action} SG {senderGroup} policy {policy}',
  'connection.close': 'ICID {icid} close',
  'connection.refused': 'ICID {icid} address {ip} REFUSED: {what}: {reply}',
  'connection.error-limit': 'ICID {icid} address {ip} disconnected: {errors} errors (hard limit {limit}): 421 4.7.0',
  'auth.blocked': 'ICID {icid} address {ip} AUTH blocked for {seconds} s: {why}',
  'connection.tls': 'ICID {icid} TLS success protocol {protocol} cipher {cipher}',
  'certificate.none': 'ICID {icid} client certificate none',
  'certificate.rejected': 'ICID {icid} client certificate subject {subject:json} verdict rejected: {reason}',
  'certificate.valid': 'ICID {icid} client certificate subject {subject:json} issuer {issuer:json} serial {serial} verdict valid{notes}',
  'certificate.login': 'ICID {icid} certificate login user {user}',
  'certificate.unavailable': 'ICID {icid} certificate login unavailable: {reason}',
  'certificate.failed': 'ICID {icid} certificate login failed: {reason}',
  'sender.size-refused': 'ICID {icid} MAIL FROM <{address}> refused: declared SIZE {declared} exceeds {limit}',
  'message.start': 'Start MID {mid} ICID {icid}',
  'message.from': 'MID {mid} ICID {icid} From: <{address}>',
  'message.to-rejected': 'MID {mid} ICID {icid} RID {rid} To: <{address}> Rejected by policy {policy}: relaying denied',
  'message.to': 'MID {mid} ICID {icid} RID {rid} To: <{address}>',
  'message.spool-failed': 'MID {mid} ICID {icid} not accepted: spool write failed ({reason})',
  'message.too-large': 'MID {mid} ICID {icid} rejected: message size {bytes} bytes exceeds the limit of {limit}',
  'message.refused': 'MID {mid} ICID {icid} rejected: {reason}',
  'connection.protocol-violation': 'ICID {icid} protocol violation: {what}',
  'message.data-cut': 'MID {mid} ICID {icid} address {ip} DATA cut: {reply}',
  'message.ready': 'MID {mid} ICID {icid} ready {bytes} bytes from <{from}>',
  // Delivery: connections (DCID) and what became of each message
  'delivery.connection': 'New SMTP DCID {dcid} address {host} port {port}',
  'delivery.connection-failed': 'DCID {dcid} connection to {host} port {port} failed: {reply}',
  'delivery.tls': 'DCID {dcid} TLS success protocol {protocol}',
  'delivery.close': 'DCID {dcid} close',
  'delivery.no-smtputf8': 'DCID {dcid} {host} does not offer SMTPUTF8, which the message needs: {why}',
  'delivery.start': 'Delivery start DCID {dcid} MID {mid} to RID [{rids}] via {host}:{port}',
  'delivery.done': 'Message done DCID {dcid} MID {mid} to RID [{rids}] ({reply:json})',
  'delivery.bounced': 'Bounced: DCID {dcid} MID {mid} to RID {rid} - {status} ({reply:json})',
  'delivery.delayed': 'Delayed: DCID {dcid} MID {mid} to RID {rid} - {status} ({reply:json})',
  'message.subject': 'MID {mid} Subject {subject:json}',
  'message.message-id': 'MID {mid} Message-ID {messageId:json}',
  'message.dkim': 'MID {mid} DKIM: signed with profile {profile}',
  'message.deferred': 'MID {mid} deferred: next attempt at {at}',
  'message.expired': 'MID {mid} expired after {ageSeconds} s in the queue (maximum {maxSeconds} s)',
  'message.bounced': 'Bounced: MID {mid} to RID {rid} - {status} ({why:json})',
  'message.deleted': 'MID {mid} RID {rid} deleted by the administrator',
  'message.no-bounce': 'MID {mid} no bounce sent: the message has a null sender',
  'message.bounce-generated': 'MID {dsnMid} was generated for bounce of MID {mid} to <{to}>',
  'message.unprepared': 'MID {mid} could not be prepared for delivery: {reason}',
  'message.corrupt': 'MID {mid} moved to the corrupt queue: {reason}',
  'message.internal-error': 'MID {mid} delivery failed with an internal error: {reason}',
  'message.finished': 'Message finished MID {mid} done',
  'alert.queued': 'MID {mid} alert {subject:json} queued for {recipients}',
} as const;

export type MailEventName = keyof typeof templates;

type FieldsOf<T extends string> = T extends `${string}{${infer Field}}${infer Rest}` ? (Field extends `${infer Name}:json` ? Name : Field) | FieldsOf<Rest> : never;
export type MailEventFields<N extends MailEventName> = Record<FieldsOf<(typeof templates)[N]>, string | number>;

/** Writes one event (a session's or a service's bound writer). */
export type MailLogWriter = <N extends MailEventName>(name: N, fields: MailEventFields<N>) => void;

export interface MailEvent {
  name: MailEventName;
  fields: Record<string, string | number>;
}

const numberFields = new Set(['mid', 'icid', 'rid', 'dcid', 'bytes', 'port', 'declared', 'limit', 'ageSeconds', 'maxSeconds', 'dsnMid', 'errors', 'seconds']);
const placeholder = /\{(\w+)(:json)?\}/g;

interface Compiled {
  name: MailEventName;
  template: string;
  pattern: RegExp;
  fields: { name: string; json: boolean }[];
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function compile(name: MailEventName, template: string): Compiled {
  const fields: Compiled['fields'] = [];
  let source = '^';
  let last = 0;
  for (const m of template.matchAll(placeholder)) {
    source += escapeRegExp(template.slice(last, m.index));
    const json = Boolean(m[2]);
    fields.push({ name: m[1]!, json });
    source += json ? '("(?:[^"\\\\]|\\\\.)*")' : numberFields.has(m[1]!) ? '(\\d+)' : '(.*?)';
    last = m.index + m[0].length;
  }
  source += `${escapeRegExp(template.slice(last))}$`;
  return { name, template, pattern: new RegExp(source, 's'), fields };
}

const compiled = (Object.entries(templates) as [MailEventName, string][]).map(([name, template]) => compile(name, template));
const byName = new Map(compiled.map((c) => [c.name, c]));

/** The line's text (what follows the log line's time and level). */
export function formatMailEvent<N extends MailEventName>(name: N, fields: MailEventFields<N>): string {
  const values = fields as Record<string, string | number>;
  return byName.get(name)!.template.replace(placeholder, (_whole, field: string, json: string | undefined) => {
    const value = values[field];
    if (value === undefined) throw new Error(`mail log event ${name} needs ${field}`);
    return json ? JSON.stringify(String(value)) : String(value);
  });
}

/** The event a line's text holds, or undefined for a line of no known kind. */
export function parseMailEvent(text: string): MailEvent | undefined {
  for (const event of compiled) {
    const m = event.pattern.exec(text);
    if (!m) continue;
    const fields: Record<string, string | number> = {};
    event.fields.forEach((field, i) => {
      const raw = m[i + 1]!;
      fields[field.name] = field.json ? (JSON.parse(raw) as string) : numberFields.has(field.name) ? Number(raw) : raw;
    });
    return { name: event.name, fields };
  }
  return undefined;
}

/** A log line's text: what follows "Www Mmm D HH:MM:SS YYYY Level: ". */
export function textOfLogLine(line: string): string {
  const m = /^\w{3} \w{3} \d{1,2} \d\d:\d\d:\d\d \d{4} \w+: /.exec(line);
  return m ? line.slice(m[0].length) : line;
}

/** Writes one event to the mail log subscriptions. */
export function logMailEvent<N extends MailEventName>(logs: Pick<LogSubscriptions, 'write'>, level: LogLevel, name: N, fields: MailEventFields<N>): void {
  logs.write('mail', level, formatMailEvent(name, fields));
}

/** The ids "KEY n" a text names, where KEY stands alone and n is a whole number ("MID 12", "MID 12:", seed 76277). */
export function idsIn(lines: Iterable<string>, key: 'MID' | 'ICID' | 'DCID' | 'RID'): Set<number> {
  const ids = new Set<number>();
  const pattern = new RegExp(`(?<![A-Za-z0-9])${key} (\\d+)(?!\\d)`, 'g');
  for (const line of lines) for (const m of line.matchAll(pattern)) ids.add(Number(m[1]));
  return ids;
}
