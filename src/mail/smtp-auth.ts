// What the gateway asks of SMTP session authentication (LDAP queries and SMTP
// authentication profiles live behind this interface, in auth/). The gateway
// calls it after a verified client certificate, on AUTH, and for every message,
// and turns the answers into replies.
import type { CertificateFields } from './certificate-fields.js';

export interface SessionContext {
  icid: number;
  clientIp: string;
  listener: string;
}

export type CertificateLoginResult =
  | { status: 'authenticated'; user: string }
  /** The directory has no user for this certificate. */
  | { status: 'no-user'; reason: string }
  /** The directory could not be asked (down, timeout): never a permanent refusal. */
  | { status: 'temporary-failure'; reason: string };

export type PasswordLoginResult =
  | { status: 'authenticated'; user: string; note?: string }
  | { status: 'invalid-credentials' }
  /** The allowance query says no and the profile rejects: the profile's reply, or 535 5.7.8. */
  | { status: 'not-allowed'; reply?: { code: number; text: string } }
  | { status: 'temporary-failure'; reason: string };

export interface SmtpAuthenticator {
  /** A client certificate passed verification on a listener whose profile is of the certificate type. */
  certificateLogin(profile: string, fields: CertificateFields, session: SessionContext): Promise<CertificateLoginResult>;
  /** AUTH PLAIN/LOGIN through an LDAP profile. */
  passwordLogin(profile: string, username: string, password: string, session: SessionContext): Promise<PasswordLoginResult>;
  /** A client certificate refused by verification (chain, revocation, expiry) on a listener whose profile is of the certificate type: logged and counted. */
  certificateRejected?(profile: string, subject: string | undefined, reason: string, session: SessionContext): void;
  /** One accepted message, for the inbound SMTP authentication report. */
  recordMessage(event: { session: SessionContext; sender: string; authenticatedUser?: string }): void;
}
