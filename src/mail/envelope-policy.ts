// MAIL FROM and RCPT TO decisions of a mail flow policy, as pure functions of what the
// session knows (tested with tables, as Postfix tests smtpd_check without a network).
// The endpoint turns each verdict into its reply and mail log line.
import { domainOf, normalDomain } from './address.js';
import type { EffectivePolicy } from './mail-flow-policy.js';

export type SenderVerdict = 'accept' | 'too-many-messages' | 'auth-required' | 'auth-unavailable' | 'too-large';

export interface SenderFacts {
  /** Messages already accepted on this connection. */
  messages: number;
  authenticated: boolean;
  /** The directory could not be asked when the session tried to authenticate. */
  authUnavailable: boolean;
  /** The SIZE the client declared, 0 when none. */
  declaredBytes: number;
}

export function senderVerdict(policy: EffectivePolicy, facts: SenderFacts): SenderVerdict {
  if (facts.messages >= policy.maxMessagesPerConnection) return 'too-many-messages';
  if (policy.smtpAuth === 'required' && !facts.authenticated) return facts.authUnavailable ? 'auth-unavailable' : 'auth-required';
  if (facts.declaredBytes > policy.maxMessageBytes) return 'too-large';
  return 'accept';
}

export type RecipientVerdict = 'accept' | 'too-many-recipients' | 'auth-required' | 'relay-denied';

export interface RecipientFacts {
  /** Recipients already accepted for this message. */
  recipients: number;
  authenticated: boolean;
  address: string;
  acceptedDomains: string[];
}

/** "example.com" names the domain itself; ".example.com" its subdomains. */
export function isAcceptedDomain(domain: string, acceptedDomains: string[]): boolean {
  const wanted = normalDomain(domain);
  return acceptedDomains.map(normalDomain).some((d) => (d.startsWith('.') ? wanted.endsWith(d) : wanted === d));
}

export function recipientVerdict(policy: EffectivePolicy, facts: RecipientFacts): RecipientVerdict {
  if (facts.recipients >= policy.maxRecipientsPerMessage) return 'too-many-recipients';
  const relayAllowed = policy.connection === 'relay' || (policy.smtpAuth !== 'off' && facts.authenticated);
  if (relayAllowed || isAcceptedDomain(domainOf(facts.address), facts.acceptedDomains)) return 'accept';
  // Where authenticating could have allowed it, say so (530) rather than a plain refusal.
  return policy.smtpAuth !== 'off' && !facts.authenticated ? 'auth-required' : 'relay-denied';
}
