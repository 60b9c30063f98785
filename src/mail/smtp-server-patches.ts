// Corrections to smtp-server's connection handling, made once at load time on
// its SMTPConnection prototype. smtp-server takes its policy from server-wide
// options, while ours changes per connection with the mail flow policy; and its
// enhanced status codes come from a fixed table that is wrong for several
// replies. Each patch reads the connection's policy from `connectionPolicy`.
// The protocol checks themselves are decided in protocol-strictness.ts and
// message-text-check.ts; this file only finds the place in smtp-server where
// each one applies (raw lines in SMTPStream, DATA's stream, MAIL/RCPT, EHLO).

import type { Readable } from 'node:stream';
import type { SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection';
import { SMTPStream } from 'smtp-server/lib/smtp-stream';
import type { SessionAbuseHooks } from './abuse-limits.js';
import { messageTextChecker } from './message-text-check.js';
import {
  type BareNewlinePolicy,
  commandLengthVerdict,
  commandNewlineVerdict,
  type LineEnding,
  type OfferedExtensions,
  type ParameterValue,
  parameterVerdict,
  pipelinedDataVerdict,
  utf8AddressVerdict,
} from './protocol-strictness.js';
import { replies, type SmtpReplyError } from './smtp-replies.js';

export interface ConnectionPolicyView {
  tls: 'off' | 'preferred' | 'required';
  requireTlsForSmtpAuth: boolean;
  /** False when the listener's certificate or its HSM key cannot be used. */
  tlsAvailable: boolean;
  /** Bare LF / bare CR in commands and message text: refused (550 5.5.2) or read as CRLF. */
  bareNewline: BareNewlinePolicy;
  /** Hears of a protocol violation that ends the session (for the mail log). */
  violation?(what: string): void;
  /** Per-address error counting: slows commands past the soft limit, 421 at the hard one (abuse-limits.ts). */
  abuse?: SessionAbuseHooks;
}

/** What the raw input said about a command line: how it ended, and how many octets had arrived after it. */
interface LineFacts {
  ending: LineEnding;
  /** Octets after this line in the same scanned input. */
  afterInChunk: number;
  /** Octets written to the parser up to the end of the chunk this line came in. */
  chunkEnd: number;
}

type Parser = {
  _dataMode: boolean;
  _remainder: string;
  oncommand(command: Buffer, callback?: () => void): void;
  startDataMode(maxBytes?: number): Readable;
  write(chunk: Buffer, ...rest: unknown[]): boolean;
  _write(chunk: Buffer, encoding: string, next: (err?: Error) => void): void;
};

type PatchedConnection = {
  session: SMTPServerSession & { disabledCommands?: string[]; envelope: { rcptTo: unknown[]; smtpUtf8?: boolean } };
  secure: boolean;
  _ready: boolean;
  _upgrading: boolean;
  _nextHandler: unknown;
  _socket: { readableLength: number };
  _server: { options: Record<string, unknown> & { authMethods: string[] } };
  _isSupported(command: string): boolean;
  _parseAddressCommand(name: string, command: Buffer | string): { address: string; args: Record<string, ParameterValue> | false } | false;
  send(code: number, data: unknown, context?: unknown): void;
  close(): void;
  _whenWritable(next: () => void): void;
  /** Facts about the command line being handled (set by the parser patch). */
  __line?: LineFacts;
  /** Octets the parser has been given so far. */
  __received?: () => number;
};

type Method<A extends unknown[]> = (this: PatchedConnection, ...args: A) => void;
type Callback = () => void;

const ownEnhancedCode = /^[245]\.\d{1,3}\.\d{1,3} /;
/** RFC 3463 codes for the replies smtp-server makes itself where its table is wrong. */
const corrections: Record<number, (text: string) => string> = {
  538: () => '5.7.11', // STARTTLS needed before AUTH: "encryption required for requested authentication mechanism"
  552: () => '5.3.4', // its only 552 is the message size limit
  554: () => '5.7.1', // refusing a session is a policy decision
  421: (text) => (/timeout/i.test(text) ? '4.4.2' : '4.3.2'),
};
const allowedBeforeStartTls = new Set(['EHLO', 'HELO', 'LHLO', 'NOOP', 'QUIT', 'STARTTLS']);

let policyOf: (session: SMTPServerSession) => ConnectionPolicyView | undefined = () => undefined;

/** AUTH is not offered where the policy wants TLS for it and the session has none (Postfix's smtpd_tls_auth_only). */
const authHidden = (connection: PatchedConnection, policy: ConnectionPolicyView | undefined) => Boolean(policy?.requireTlsForSmtpAuth && !connection.secure);

function offerOf(connection: PatchedConnection): OfferedExtensions {
  const options = connection._server.options;
  return {
    size: Boolean(options.size),
    eightBitMime: !options.hide8BITMIME,
    smtpUtf8: !options.hideSMTPUTF8,
    dsn: !options.hideDSN,
    auth: options.authMethods.length > 0 && connection._isSupported('AUTH') && !authHidden(connection, policyOf(connection.session)),
    requireTls: connection.secure && !options.hideREQUIRETLS,
  };
}

function refuse(connection: PatchedConnection, reply: SmtpReplyError): void {
  connection.send(reply.responseCode, reply.message);
}

/** Commands after which a client must wait for our reply (RFC 2920 3.1); input already there is a protocol violation. */
const lastInGroup = new Set(['DATA', 'EHLO', 'HELO']);

/**
 * Wraps a new SMTPStream: notes how each command line ended and what had
 * arrived after it (SMTPStream splits on /\r?\n/ and forgets which), and puts
 * the message text check between DATA's stream and the application.
 */
function watchParser(connection: PatchedConnection, parser: Parser): void {
  const lines: LineFacts[] = [];
  const incoming: Buffer[] = [];
  let received = 0;
  let chunkEnd = 0;
  connection.__received = () => received;
  const write = parser.write;
  parser.write = function (this: Parser, chunk: Buffer, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk)) {
      received += chunk.length;
      incoming.push(chunk);
    }
    return write.call(this, chunk, ...rest);
  };
  const rawWrite = parser._write;
  parser._write = function (this: Parser, chunk: Buffer, encoding: string, next: (err?: Error) => void) {
    // A chunk the socket wrote, or the tail of one that SMTPStream feeds itself again (after DATA): both end where the current socket chunk ends.
    if (chunk === incoming[0]) {
      incoming.shift();
      chunkEnd += chunk.length;
    }
    if (!this._dataMode && chunk?.length) {
      const data = this._remainder + chunk.toString('binary');
      for (let at = data.indexOf('\n'); at !== -1; at = data.indexOf('\n', at + 1)) {
        lines.push({ ending: at > 0 && data[at - 1] === '\r' ? 'crlf' : 'bare-lf', afterInChunk: data.length - at - 1, chunkEnd });
      }
    }
    return rawWrite.call(this, chunk, encoding, next);
  };
  const oncommand = parser.oncommand;
  parser.oncommand = function (this: Parser, command: Buffer, callback?: () => void) {
    const facts = lines.shift();
    if (facts) connection.__line = facts;
    else delete connection.__line;
    return oncommand.call(this, command, callback);
  };
  const startDataMode = parser.startDataMode;
  parser.startDataMode = function (this: Parser, maxBytes?: number) {
    lines.length = 0; // what was scanned after DATA is message text, not commands
    const raw = startDataMode.call(this, maxBytes) as Readable & { byteLength: number; sizeExceeded: boolean };
    const policy = policyOf(connection.session);
    if (!policy) return raw;
    const checked = raw.pipe(messageTextChecker(policy.bareNewline));
    // A reader that gives up early destroys `checked`: the rest of the message must still drain, or the parser waits forever.
    checked.once('close', () => {
      raw.unpipe(checked);
      raw.resume();
    });
    Object.defineProperties(checked, {
      byteLength: { get: () => raw.byteLength },
      sizeExceeded: { get: () => raw.sizeExceeded },
    });
    return checked;
  };
}

/** The start of a command line for the log: no credentials (AUTH's argument), no control characters. */
function printableCommand(line: Buffer): string {
  const text = line.toString('latin1').slice(0, 60);
  return (/^AUTH /i.test(text) ? text.split(' ').slice(0, 2).join(' ') : text).replace(/[^\x20-\x7e]/g, '?');
}

/** Octets the client sent after the current command line that we have not read yet as commands. */
function pendingInput(connection: PatchedConnection): number {
  const line = connection.__line;
  const queued = line && connection.__received ? connection.__received() - line.chunkEnd : 0;
  return (line?.afterInChunk ?? 0) + queued + (connection._socket.readableLength ?? 0);
}

/**
 * The methods of smtp-server's internals these corrections wrap or call. smtp-server is
 * pinned to an exact version (package.json); a version that lacks one of them is refused
 * at load, naming it, rather than serving mail without a correction.
 */
export const smtpServerInternals = {
  SMTPConnection: [
    'send',
    'close',
    '_onCommand',
    '_createParser',
    '_parseAddressCommand',
    '_whenWritable',
    '_isSupported',
    'handler_AUTH',
    'handler_EHLO',
    'handler_MAIL',
    'handler_RCPT',
    'handler_STARTTLS',
  ],
  SMTPStream: ['write', '_write', 'startDataMode'],
} as const;

/** The internals a smtp-server build lacks, as "Class.prototype.method" (none: the patches apply). */
export function missingInternals(prototypes: Record<keyof typeof smtpServerInternals, object>): string[] {
  return Object.entries(smtpServerInternals).flatMap(([name, methods]) =>
    methods.filter((m) => typeof (prototypes[name as keyof typeof smtpServerInternals] as Record<string, unknown>)[m] !== 'function').map((m) => `${name}.prototype.${m}`),
  );
}

/** Installs the patches; `lookup` finds a session's policy (undefined: not ours, left alone). */
export function installSmtpServerPatches(lookup: typeof policyOf): void {
  policyOf = lookup;
  const proto = SMTPConnection.prototype as unknown as Record<string, Method<never[]>>;
  if ((proto as { __appliancePatched?: boolean }).__appliancePatched) return;
  const missing = missingInternals({ SMTPConnection: SMTPConnection.prototype, SMTPStream: SMTPStream.prototype });
  if (missing.length > 0) {
    throw new Error(`this smtp-server lacks ${missing.join(', ')}: the gateway's protocol corrections cannot be applied; install the version package.json pins`);
  }
  (proto as { __appliancePatched?: boolean }).__appliancePatched = true;

  const send = proto.send as unknown as Method<[number, unknown, unknown?]>;
  proto.send = function (this: PatchedConnection, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string' && ownEnhancedCode.test(data)) return send.call(this, code, data, false);
    const fix = corrections[code];
    if (fix && typeof data === 'string' && context !== false && !['HELO', 'EHLO', 'LHLO'].includes(String(context))) {
      return send.call(this, code, `${fix(data)} ${data}`, false);
    }
    return send.call(this, code, data, context);
  } as unknown as Method<never[]>;

  const onCommand = proto._onCommand as unknown as Method<[Buffer | string, Callback]>;
  proto._onCommand = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
    const policy = policyOf(this.session);
    const name = (command || '').toString().split(' ')[0]?.toUpperCase() ?? '';
    if (policy && this._ready && !this._upgrading) {
      const line = Buffer.isBuffer(command) ? command : Buffer.from(String(command ?? ''), 'binary');
      const tooLong = commandLengthVerdict(name, line.length, offerOf(this), Boolean(this._nextHandler));
      if (tooLong) {
        this._nextHandler = false; // an AUTH exchange ends with it
        refuse(this, tooLong);
        return this._whenWritable(callback);
      }
      const framing =
        commandNewlineVerdict(this.__line?.ending ?? 'crlf', line, policy.bareNewline) ??
        (!this._nextHandler && lastInGroup.has(name) ? pipelinedDataVerdict(pendingInput(this)) : undefined);
      if (framing) {
        policy.violation?.(`${framing.responseCode} ${framing.message} after ${JSON.stringify(printableCommand(line))}; closing`);
        refuse(this, framing);
        this.close();
        return callback();
      }
    }
    if (policy?.tls === 'required' && !this.secure && !this._upgrading && !this._nextHandler && !allowedBeforeStartTls.has(name)) {
      const reply = replies.tlsRequired();
      this.send(reply.responseCode, reply.message);
      return this._whenWritable(callback);
    }
    return onCommand.call(this, command, callback);
  } as unknown as Method<never[]>;

  installAbusePatches(proto);

  const handleAuth = proto.handler_AUTH as unknown as Method<[Buffer | string, Callback]>;
  proto.handler_AUTH = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
    const policy = policyOf(this.session);
    if (policy?.requireTlsForSmtpAuth && !this.secure) {
      const reply = replies.tlsRequiredForAuth();
      this.send(reply.responseCode, reply.message);
      return callback();
    }
    return handleAuth.call(this, command, callback);
  } as unknown as Method<never[]>;

  const handleEhlo = proto.handler_EHLO as unknown as Method<[Buffer | string, Callback]>;
  proto.handler_EHLO = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
    if (!authHidden(this, policyOf(this.session))) return handleEhlo.call(this, command, callback);
    const disabled = this.session.disabledCommands;
    this.session.disabledCommands = [...(disabled ?? []), 'AUTH'];
    try {
      return handleEhlo.call(this, command, callback); // writes its reply before it returns
    } finally {
      if (disabled) this.session.disabledCommands = disabled;
      else delete this.session.disabledCommands;
    }
  } as unknown as Method<never[]>;

  for (const [verb, handlerName, parseAs] of [
    ['MAIL', 'handler_MAIL', 'mail from'],
    ['RCPT', 'handler_RCPT', 'rcpt to'],
  ] as const) {
    const handle = proto[handlerName] as unknown as Method<[Buffer | string, Callback]>;
    proto[handlerName] = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
      const parsed = policyOf(this.session) ? this._parseAddressCommand(parseAs, command) : false;
      const args = (parsed ? parsed.args : false) || {};
      const declared = verb === 'MAIL' ? args.SMTPUTF8 === true : this.session.envelope.smtpUtf8;
      const line = Buffer.isBuffer(command) ? command : Buffer.from(String(command), 'binary');
      const verdict = parsed ? (parameterVerdict(verb, parsed.args, offerOf(this)) ?? utf8AddressVerdict(line, Boolean(declared))) : undefined;
      if (verdict) {
        refuse(this, verdict);
        return callback();
      }
      return handle.call(this, command, callback); // a command it cannot parse gets its own 501
    } as unknown as Method<never[]>;
  }

  const createParser = proto._createParser as unknown as (this: PatchedConnection) => Parser;
  proto._createParser = function (this: PatchedConnection) {
    const parser = createParser.call(this);
    watchParser(this, parser);
    return parser;
  } as unknown as Method<never[]>;

  const handleStartTls = proto.handler_STARTTLS as unknown as Method<[Buffer | string, Callback]>;
  proto.handler_STARTTLS = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
    const policy = policyOf(this.session);
    if (policy && !policy.tlsAvailable && !this.secure) {
      const reply = replies.tlsUnavailable();
      this.send(reply.responseCode, reply.message);
      return callback();
    }
    return handleStartTls.call(this, command, callback);
  } as unknown as Method<never[]>;
}

/** Every error reply is counted for the client's address; each command waits as the count says, or the session ends with 421. */
function installAbusePatches(proto: Record<string, Method<never[]>>): void {
  const send = proto.send as unknown as Method<[number, unknown, unknown?]>;
  proto.send = function (this: PatchedConnection, code: number, data: unknown, context?: unknown) {
    if (code >= 400) policyOf(this.session)?.abuse?.errorReplied(code);
    return send.call(this, code, data, context);
  } as unknown as Method<never[]>;

  const onCommand = proto._onCommand as unknown as Method<[Buffer | string, Callback]>;
  proto._onCommand = function (this: PatchedConnection, command: Buffer | string, callback: Callback) {
    const gate = policyOf(this.session)?.abuse?.beforeCommand();
    if (gate?.refuse) {
      this.send(gate.refuse.responseCode, gate.refuse.message);
      return callback();
    }
    if (gate?.delayMs) {
      setTimeout(() => onCommand.call(this, command, callback), gate.delayMs);
      return;
    }
    return onCommand.call(this, command, callback);
  } as unknown as Method<never[]>;
}
