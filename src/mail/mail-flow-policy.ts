// A connection's effective mail flow policy: the matched policy's own fields,
// and for each field it leaves to "use default", the listener's default policy.
// verifyClientCertificate resolves on its own, independently of `tls`: a policy
// that takes TLS from the default may still verify client certificates, and it
// does (seed known issue 85006 does not exist here).
import type { Listener, MailFlowPolicy } from '../os/config/schema.js';
import { type BareNewlinePolicy, defaultBareNewline } from './protocol-strictness.js';

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
}

export function resolvePolicy(listener: Pick<Listener, 'policies' | 'defaultPolicy'> & Partial<Pick<Listener, 'type'>>, policyName: string): EffectivePolicy {
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
  };
}
