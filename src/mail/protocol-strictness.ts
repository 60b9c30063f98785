// What the gateway refuses in the SMTP dialogue itself, as pure decisions the
// session (smtp-server-patches.ts) asks line by line: MAIL/RCPT parameters,
// command line length, line endings. The message text is judged by
// message-text-check.ts. Each verdict is a reply, or undefined to go on.
//
// Decisions, after Postfix 3.9 where the RFCs leave a choice:
// - An unknown MAIL/RCPT parameter, or one of an extension we do not offer, is
//   555 5.5.4 (RFC 5321 4.1.1.11, RFC 1869 6); a known one with a bad value 501 5.5.4.
// - A command line is at most 512 octets with its CRLF (RFC 5321 4.5.3.1.4), plus
//   what each offered extension adds to MAIL and RCPT, and 12288 for AUTH and its
//   continuation lines (RFC 4954 4). Longer: 500 5.5.2, the command is not run.
// - A line that ends in a bare LF (or holds a bare CR) follows the policy's
//   `bareNewline`: `reject` answers 550 5.5.2 and closes the session (the line
//   framing of such a client cannot be trusted: SMTP smuggling), `normalize` reads
//   it as CRLF (Postfix's smtpd_forbid_bare_newline = reject / normal).
import type { SmtpReplyError } from './smtp-replies.js';
import { smtpError } from './smtp-replies.js';

export type BareNewlinePolicy = 'reject' | 'normalize';

/** The public listener's default is the safe one; private listeners take mail from known clients, often old devices. */
export function defaultBareNewline(listenerType: 'public' | 'private'): BareNewlinePolicy {
  return listenerType === 'public' ? 'reject' : 'normalize';
}

/** The extensions the session offers in its EHLO reply. */
export interface OfferedExtensions {
  size: boolean;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  dsn: boolean;
  auth: boolean;
  /** REQUIRETLS is offered inside TLS only (RFC 8689). */
  requireTls: boolean;
}

export type ParameterValue = string | true;

interface ParameterRule {
  offered(offer: OfferedExtensions): boolean;
  /** Undefined when the value is well formed, else what is wrong. */
  check(value: ParameterValue): string | undefined;
  /** Octets the extension adds to the command line (RFC 1870 6, RFC 3461 5, RFC 4954 5, RFC 6531 3.4, RFC 8689 4). */
  lineAllowance: number;
}

const flag = (name: string) => (value: ParameterValue) => (value === true ? undefined : `${name} takes no value`);
const withValue = (name: string, valid: RegExp, expected: string) => (value: ParameterValue) => (value !== true && valid.test(value) ? undefined : `${name} must be ${expected}`);

const mailParameters: Record<string, ParameterRule> = {
  SIZE: { offered: (o) => o.size, check: withValue('SIZE', /^\d{1,20}$/, 'a number of octets (SIZE=12345)'), lineAllowance: 26 },
  BODY: { offered: (o) => o.eightBitMime, check: withValue('BODY', /^(7BIT|8BITMIME)$/i, '7BIT or 8BITMIME'), lineAllowance: 15 },
  SMTPUTF8: { offered: (o) => o.smtpUtf8, check: flag('SMTPUTF8'), lineAllowance: 10 },
  // RFC 4954 5: AUTH=<> or the xtext of an addr-spec (smtp-server has decoded the xtext).
  AUTH: { offered: (o) => o.auth, check: withValue('AUTH', /^(<>|[^\s<>]+@[^\s<>@]+)$/, '<> or an address'), lineAllowance: 500 },
  RET: { offered: (o) => o.dsn, check: withValue('RET', /^(FULL|HDRS)$/i, 'FULL or HDRS'), lineAllowance: 0 },
  ENVID: { offered: (o) => o.dsn, check: withValue('ENVID', /^[\x20-\x7e]{1,100}$/, 'at most 100 printable characters'), lineAllowance: 100 },
  REQUIRETLS: { offered: (o) => o.requireTls, check: flag('REQUIRETLS'), lineAllowance: 11 },
};

const rcptParameters: Record<string, ParameterRule> = {
  NOTIFY: {
    offered: (o) => o.dsn,
    check: withValue('NOTIFY', /^(NEVER|(SUCCESS|FAILURE|DELAY)(,(SUCCESS|FAILURE|DELAY))*)$/i, 'NEVER or a list of SUCCESS, FAILURE, DELAY'),
    lineAllowance: 0,
  },
  ORCPT: { offered: (o) => o.dsn, check: withValue('ORCPT', /^[A-Za-z0-9-]+;.{1,500}$/, 'addr-type;address (ORCPT=rfc822;a@example.com)'), lineAllowance: 500 },
};

/** 555 for a parameter we do not know or do not offer, 501 for a known one with a bad value; undefined when all are fine. */
export function parameterVerdict(verb: 'MAIL' | 'RCPT', args: Record<string, ParameterValue> | false | undefined, offer: OfferedExtensions): SmtpReplyError | undefined {
  const rules = verb === 'MAIL' ? mailParameters : rcptParameters;
  for (const [name, value] of Object.entries(args || {})) {
    const rule = rules[name.toUpperCase()];
    if (rule === undefined || !rule.offered(offer)) return smtpError(555, '5.5.4', `Unsupported ${verb === 'MAIL' ? 'MAIL FROM' : 'RCPT TO'} parameter ${printable(name)}`);
    const problem = rule.check(value);
    if (problem) return smtpError(501, '5.5.4', `Bad ${name.toUpperCase()} parameter: ${problem}`);
  }
  return undefined;
}

/** RFC 6531 3.4: a non-ASCII address needs SMTPUTF8 on MAIL FROM; Postfix's reply (smtputf8_enable). */
export function utf8AddressVerdict(line: Buffer, smtpUtf8Declared: boolean): SmtpReplyError | undefined {
  if (smtpUtf8Declared || !line.some((byte) => byte >= 0x80)) return undefined;
  return smtpError(553, '5.6.7', 'Must declare SMTPUTF8 to send unicode address');
}

const BASE_COMMAND_LINE = 512;
/** RFC 4954 4: AUTH and its continuation lines may carry 12288 octets. */
export const AUTH_LINE_LIMIT = 12_288;

/** The longest command line the session accepts for a verb, CRLF included. */
export function commandLineLimit(verb: string, offer: OfferedExtensions, inAuthExchange = false): number {
  const name = verb.toUpperCase();
  if (inAuthExchange || name === 'AUTH') return AUTH_LINE_LIMIT;
  const rules = name === 'MAIL' ? mailParameters : name === 'RCPT' ? rcptParameters : undefined;
  if (!rules) return BASE_COMMAND_LINE;
  let limit = BASE_COMMAND_LINE;
  for (const rule of Object.values(rules)) if (rule.offered(offer)) limit += rule.lineAllowance;
  return limit;
}

/** `octets` is the line as received, without its line ending. */
export function commandLengthVerdict(verb: string, octets: number, offer: OfferedExtensions, inAuthExchange = false): SmtpReplyError | undefined {
  const limit = commandLineLimit(verb, offer, inAuthExchange);
  if (octets + 2 <= limit) return undefined;
  return smtpError(
    500,
    '5.5.2',
    `Command line too long: at most ${limit} octets with CRLF for ${inAuthExchange ? 'an AUTH response' : printable(verb.toUpperCase()) || 'this command'}`,
  );
}

export type LineEnding = 'crlf' | 'bare-lf';

/** A command line's ending and a bare CR inside it, judged by the policy. */
export function commandNewlineVerdict(ending: LineEnding, line: Buffer, policy: BareNewlinePolicy): SmtpReplyError | undefined {
  if (policy === 'normalize') return undefined;
  if (ending === 'bare-lf') return replies.bareLf();
  if (line.includes(0x0d)) return replies.bareCr();
  return undefined;
}

/** A client that sent message text before our 354 (RFC 2920 3.1: DATA ends a pipelined group); Postfix's reply. */
export function pipelinedDataVerdict(pendingOctets: number): SmtpReplyError | undefined {
  return pendingOctets > 0 ? smtpError(554, '5.5.0', 'Error: SMTP protocol synchronization (message text sent before the 354 reply)') : undefined;
}

export const replies = {
  bareLf: () => smtpError(550, '5.5.2', 'Error: bare <LF> received; lines must end in <CR><LF>'),
  bareCr: () => smtpError(550, '5.5.2', 'Error: bare <CR> received; lines must end in <CR><LF>'),
};

function printable(text: string): string {
  return text.replace(/[^\x21-\x7e]/g, '?').slice(0, 40);
}
