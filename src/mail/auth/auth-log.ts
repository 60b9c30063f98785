// Authentication log lines for SMTP session authentication: who (as the client
// gave it, quoted), from which client IP, how, the outcome and the directory
// that answered. A password never reaches this module.
import type { LogSubscriptions } from '../../os/logging/subscriptions.js';
import type { SessionContext } from '../smtp-auth.js';

export type AuthVia = 'SMTP client certificate' | 'SMTP AUTH';

export interface AuthLogEvent {
  via: AuthVia;
  /** The user name tried, or the certificate's identity when no user was found. */
  user: string;
  session: SessionContext;
  profile: string;
  outcome: 'succeeded' | 'failed' | 'unavailable';
  reason?: string;
  details?: string[];
}

export function writeAuthLog(logs: Pick<LogSubscriptions, 'write'>, event: AuthLogEvent): void {
  const { session } = event;
  const where = [`ICID ${session.icid}`, `listener ${session.listener}`, `profile ${event.profile}`, ...(event.details ?? [])].join(', ');
  const outcome = event.reason ? `${event.outcome}: ${event.reason}` : event.outcome;
  const level = event.outcome === 'succeeded' ? 'info' : 'warning';
  logs.write('authentication', level, `User ${JSON.stringify(event.user)} login from ${session.clientIp} via ${event.via} ${outcome} (${where})`);
}
