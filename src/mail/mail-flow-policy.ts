// A connection's effective mail flow policy: the matched policy's own fields,
// and for each field it leaves to "use default", the listener's default policy.
// verifyClientCertificate resolves on its own, independently of `tls`: a policy
// that takes TLS from the default may still verify client certificates, and it
// does (seed known issue 85006 does not exist here). The abuse limits follow the
// same rule and, unset in both, take the built-in defaults (abuseLimitDefaults).
import { abuseLimitDefaults, type Listener, type MailFlowPolicy } from '../os/config/schema.js';
import { type BareNewlinePolicy, defaultBareNewline } from './protocol-strictness.js';

type AbuseLimitField = keyof typeof abuseLimitDefaults;

export interface EffectivePolicy {
  name: string;
  connection: 'accept' | 'relay' | 'reject' | 'tcp-refuse';
  maxMessageBytes: number;
  maxRecipientsPerMessage: number;
  maxMessagesPerConnection: number;
  tls: 'off' | 'preferred' | 'required';
  verifyClientCertificate: boolean;
  smtpAuth: 'off' | 'preferred' | 'required';
  requireTlsForSmtpAuth: boolean;
  dkimSigning: boolean;
  bareNewline: BareNewlinePolicy;
  errorSleepMs: number;
  softErrorLimit: number;
  hardErrorLimit: number;
  errorWindowSeconds: number;
  authFailureLimit: number;
  authFailureLimitPerUser: number;
  authFailureWindowSeconds: number;
  authBlockSeconds: number;
  connectionCountLimit: number;
  /** Per minute; 0: no limit. */
  connectionRateLimit: number;
  dataTimeoutSeconds: number;
  /** 0: no minimum. */
  dataMinBytesPerSecond: number;
  dataMinRateGraceSeconds: number;
}

/** Postfix's 50 is half its default process limit: here, half the listener's places, so one address never takes them all. */
export function defaultConnectionCountLimit(maxConnections: number): number {
  return Math.max(1, Math.floor(maxConnections / 2));
}

export function resolvePolicy(
  listener: Pick<Listener, 'policies' | 'defaultPolicy'> & Partial<Pick<Listener, 'type'>> & { maxConnections?: number },
  policyName: string,
): EffectivePolicy {
  const defaults = listener.policies.find((p) => p.name === listener.defaultPolicy);
  const policy = listener.policies.find((p) => p.name === policyName) ?? defaults;
  if (!defaults || !policy) throw new Error(`listener has no policy "${policyName}" nor a default policy`); // prevented by validation
  const pick = <K extends keyof MailFlowPolicy>(field: K): NonNullable<MailFlowPolicy[K]> | undefined => policy[field] ?? defaults[field] ?? undefined;
  const required = <K extends keyof MailFlowPolicy>(field: K): NonNullable<MailFlowPolicy[K]> => {
    const value = pick(field);
    if (value === undefined) throw new Error(`the default policy does not set ${field}`); // prevented by validation
    return value;
  };
  return {
    name: policy.name,
    connection: required('connection'),
    maxMessageBytes: required('maxMessageBytes'),
    maxRecipientsPerMessage: required('maxRecipientsPerMessage'),
    maxMessagesPerConnection: required('maxMessagesPerConnection'),
    tls: required('tls'),
    verifyClientCertificate: pick('verifyClientCertificate') ?? false,
    smtpAuth: required('smtpAuth'),
    requireTlsForSmtpAuth: pick('requireTlsForSmtpAuth') ?? false,
    dkimSigning: pick('dkimSigning') ?? false,
    bareNewline: pick('bareNewline') ?? defaultBareNewline(listener.type ?? 'public'),
    ...abuseLimits(<K extends AbuseLimitField>(field: K) => pick(field)),
    connectionCountLimit: pick('connectionCountLimit') ?? defaultConnectionCountLimit(listener.maxConnections ?? 50),
  };
}

/** Signing applies to authenticated senders on a relaying listener (private, or a relaying policy) whose policy has dkimSigning. */
export function signsWithDkim(policy: Pick<EffectivePolicy, 'dkimSigning' | 'connection'>, listenerType: Listener['type'], authenticated: boolean): boolean {
  return authenticated && policy.dkimSigning && (listenerType === 'private' || policy.connection === 'relay');
}

function abuseLimits(pick: <K extends AbuseLimitField>(field: K) => number | undefined) {
  const value = <K extends AbuseLimitField>(field: K): number => pick(field) ?? (abuseLimitDefaults[field] as number);
  return {
    errorSleepMs: value('errorSleepMs'),
    softErrorLimit: value('softErrorLimit'),
    hardErrorLimit: value('hardErrorLimit'),
    errorWindowSeconds: value('errorWindowSeconds'),
    authFailureLimit: value('authFailureLimit'),
    authFailureLimitPerUser: value('authFailureLimitPerUser'),
    authFailureWindowSeconds: value('authFailureWindowSeconds'),
    authBlockSeconds: value('authBlockSeconds'),
    connectionRateLimit: value('connectionRateLimit'),
    dataTimeoutSeconds: value('dataTimeoutSeconds'),
    dataMinBytesPerSecond: value('dataMinBytesPerSecond'),
    dataMinRateGraceSeconds: value('dataMinRateGraceSeconds'),
  };
}
