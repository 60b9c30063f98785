// Corrections to smtp-server's connection handling, made once at load time on
// its SMTPConnection prototype. smtp-server takes its policy from server-wide
// options, while ours changes per connection with the mail flow policy; and its
// enhanced status codes come from a fixed table that is wrong for several
// replies. Each patch reads the connection's policy from `connectionPolicy`.

import type { SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection';
import type { SessionAbuseHooks } from './abuse-limits.js';
import { replies } from './smtp-replies.js';

export interface ConnectionPolicyView {
  tls: 'off' | 'preferred' | 'required';
  requireTlsForSmtpAuth: boolean;
  /** False when the listener's certificate or its HSM key cannot be used. */
  tlsAvailable: boolean;
  /** Per-address error counting: slows commands past the soft limit, 421 at the hard one (abuse-limits.ts). */
  abuse?: SessionAbuseHooks;
}

type PatchedConnection = {
  session: SMTPServerSession;
  secure: boolean;
  _upgrading: boolean;
  _nextHandler: unknown;
  send(code: number, data: unknown, context?: unknown): void;
  _whenWritable(next: () => void): void;
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

/** Installs the patches; `lookup` finds a session's policy (undefined: not ours, left alone). */
export function installSmtpServerPatches(lookup: typeof policyOf): void {
  policyOf = lookup;
  const proto = SMTPConnection.prototype as unknown as Record<string, Method<never[]>>;
  if ((proto as { __appliancePatched?: boolean }).__appliancePatched) return;
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
