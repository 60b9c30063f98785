// The gateway's SmtpAuthenticator, built from the committed configuration:
// certificate profiles look the certificate up with their Certificate
// Authentication query, LDAP profiles check AUTH credentials with their SMTP
// Authentication query and, when asked, the allowance query (monitor or
// reject). Every event goes to the authentication log and the report.

import type { CertificateQuery, LdapServer, SmtpAuthQuery } from '../../os/config/ldap-server-type.js';
import type { ApplianceConfig } from '../../os/config/schema.js';
import { authenticationProblems } from '../../os/config/verify.js';
import type { Logger } from '../../os/logging/logger.js';
import type { LogSubscriptions } from '../../os/logging/subscriptions.js';
import { domainOf } from '../address.js';
import type { CertificateFields } from '../certificate-fields.js';
import type { CertificateLoginResult, PasswordLoginResult, SessionContext, SmtpAuthenticator } from '../smtp-auth.js';
import { trustedCaCertificates } from '../trust-store.js';
import { type AuthVia, writeAuthLog } from './auth-log.js';
import { HostHealth } from './host-health.js';
import { DirectoryUnavailableError, type HsmClientCertificate, LdapDirectory } from './ldap-directory.js';
import { checkPassword, lookUpCertificateUser, type QueryTrace } from './queries.js';
import type { AuthReportStore, ReportCounter, ReportSender } from './report-store.js';

export interface AuthenticatorOptions {
  logs: Pick<LogSubscriptions, 'write'>;
  logger?: Pick<Logger, 'error'>;
  report?: Pick<AuthReportStore, 'record'>;
  /** The chain and HSM key of a certificate label, for LDAP servers that ask for a client certificate. */
  clientCertificate?: (label: string) => Promise<HsmClientCertificate>;
  now?: () => Date;
}

type Profiles = ApplianceConfig['smtpAuth']['profiles'][number];
type AuthConfig = Pick<ApplianceConfig, 'ldap' | 'smtpAuth' | 'certificates' | 'listeners'>;

function describeTrace(trace: QueryTrace | undefined): string[] {
  return trace ? [`LDAP server ${trace.server} at ${trace.host}`] : [];
}

export class LdapSmtpAuthenticator implements SmtpAuthenticator {
  private config: AuthConfig;
  private directories = new Map<string, LdapDirectory>();
  private readonly health = new Map<string, HostHealth>();
  private readonly now: () => Date;

  constructor(
    config: AuthConfig,
    private readonly options: AuthenticatorOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.config = config;
    this.warnAbout(config);
  }

  private warnAbout(config: AuthConfig): void {
    // Commits refuse these (verify.ts); a revision committed before a rule existed may still have them.
    for (const problem of authenticationProblems(config)) this.options.logs.write('authentication', 'warning', `SMTP authentication configuration: ${problem}`);
  }

  /** A committed configuration: directories are rebuilt (dead-host records are kept per server name). */
  apply(config: AuthConfig): void {
    this.config = config;
    this.warnAbout(config);
    this.directories = new Map();
  }

  /** The client for a server profile; throws when there is none of that name. */
  directory(serverName: string): LdapDirectory {
    let directory = this.directories.get(serverName);
    if (!directory) {
      const server: LdapServer | undefined = this.config.ldap.servers.find((s) => s.name === serverName);
      if (!server) throw new Error(`there is no LDAP server profile named "${serverName}"`);
      const health = this.health.get(serverName) ?? new HostHealth();
      this.health.set(serverName, health);
      directory = new LdapDirectory(server, {
        caCertificates: trustedCaCertificates(this.config.certificates),
        health,
        ...(this.options.clientCertificate ? { clientCertificate: this.options.clientCertificate } : {}),
        onHostFailure: (host, reason) =>
          this.options.logs.write('authentication', 'warning', `LDAP server ${server.name} host ${host} failed: ${reason}; skipped for ${server.deadHostBackoffSeconds} s`),
      });
      this.directories.set(serverName, directory);
    }
    return directory;
  }

  query<T extends 'certificate' | 'smtp-auth'>(name: string, type: T): Extract<CertificateQuery | SmtpAuthQuery, { type: T }> {
    const query = this.config.ldap.queries.find((q) => q.name === name);
    if (!query || query.type !== type) throw new Error(`there is no ${type === 'certificate' ? 'Certificate Authentication' : 'SMTP Authentication'} query named "${name}"`);
    return query as Extract<CertificateQuery | SmtpAuthQuery, { type: T }>;
  }

  private profile<T extends Profiles['type']>(name: string, type: T): Extract<Profiles, { type: T }> {
    const profile = this.config.smtpAuth.profiles.find((p) => p.name === name);
    if (!profile || profile.type !== type) throw new Error(`there is no ${type} SMTP authentication profile named "${name}"`);
    return profile as Extract<Profiles, { type: T }>;
  }

  private count(counter: ReportCounter, sender: ReportSender): void {
    try {
      this.options.report?.record(counter, sender);
    } catch (err) {
      this.options.logger?.error({ err }, 'the SMTP authentication report could not be updated');
    }
  }

  private failure(err: unknown, via: AuthVia, user: string, profile: string, session: SessionContext): { status: 'temporary-failure'; reason: string } {
    const reason = (err as Error).message;
    if (!(err instanceof DirectoryUnavailableError)) this.options.logger?.error({ err, icid: session.icid }, 'SMTP authentication failed on an unexpected error');
    writeAuthLog(this.options.logs, { via, user, session, profile, outcome: 'unavailable', reason });
    return { status: 'temporary-failure', reason };
  }

  async certificateLogin(profileName: string, fields: CertificateFields, session: SessionContext): Promise<CertificateLoginResult> {
    const identity = `serial ${fields.sn} CN ${JSON.stringify(fields.cn)}`;
    const sender = { user: fields.cn, domain: domainOf(fields.email || fields.upn), ip: session.clientIp };
    try {
      const profile = this.profile(profileName, 'certificate');
      const query = this.query(profile.certificateQuery, 'certificate');
      const found = await lookUpCertificateUser(this.directory(query.server), query, fields);
      const details = [`certificate ${identity}`, ...describeTrace(found.trace)];
      if (found.status === 'found') {
        writeAuthLog(this.options.logs, {
          via: 'SMTP client certificate',
          user: found.user,
          session,
          profile: profileName,
          outcome: 'succeeded',
          details: [...details, `entry ${found.dn}`],
        });
        this.count('certificate_ok', { ...sender, user: found.user });
        return { status: 'authenticated', user: found.user };
      }
      writeAuthLog(this.options.logs, { via: 'SMTP client certificate', user: fields.cn, session, profile: profileName, outcome: 'failed', reason: found.reason, details });
      this.count('certificate_failed', sender);
      return { status: 'no-user', reason: found.reason };
    } catch (err) {
      this.count('certificate_failed', sender);
      return this.failure(err, 'SMTP client certificate', fields.cn, profileName, session);
    }
  }

  /** A client certificate the gateway refused (chain, revocation, expiry) on a listener that authenticates by certificate. */
  certificateRejected(profileName: string, subject: string | undefined, reason: string, session: SessionContext): void {
    const cn = /(?:^|[,+])CN=((?:\\.|[^,+\\])*)/.exec(subject ?? '')?.[1]?.replace(/\\(.)/g, '$1') ?? subject ?? 'unknown';
    writeAuthLog(this.options.logs, { via: 'SMTP client certificate', user: cn, session, profile: profileName, outcome: 'failed', reason: `certificate refused: ${reason}` });
    this.count('certificate_failed', { user: cn, domain: '', ip: session.clientIp });
  }

  async passwordLogin(profileName: string, username: string, password: string, session: SessionContext): Promise<PasswordLoginResult> {
    const sender = { user: username, domain: domainOf(username), ip: session.clientIp };
    const listener = this.config.listeners.find((l) => l.name === session.listener);
    const certificateProfile = this.config.smtpAuth.profiles.find((p) => p.name === listener?.smtpAuthProfile && p.type === 'certificate');
    const details = certificateProfile ? [`fallback from certificate profile ${certificateProfile.name}`] : [];
    if (certificateProfile) this.count('auth_fallback', sender);
    const log = (outcome: 'succeeded' | 'failed', reason?: string, more: string[] = []) =>
      writeAuthLog(this.options.logs, { via: 'SMTP AUTH', user: username, session, profile: profileName, outcome, ...(reason ? { reason } : {}), details: [...details, ...more] });
    if (!password || !username) {
      log('failed', !password ? 'empty password refused before any bind' : 'empty user name');
      this.count('auth_failed', sender);
      return { status: 'invalid-credentials' };
    }
    try {
      const profile = this.profile(profileName, 'ldap');
      const query = this.query(profile.query, 'smtp-auth');
      const withAllowance = profile.checkAllowance && Boolean(query.allowanceQueryString);
      const checked = await checkPassword(this.directory(query.server), query, username, password, withAllowance, this.now());
      const where = describeTrace(checked.traces[0]);
      if (checked.status === 'invalid') {
        log('failed', checked.reason, where);
        this.count('auth_failed', sender);
        return { status: 'invalid-credentials' };
      }
      if (checked.allowed === false && profile.whenDisallowed === 'reject') {
        const reply = profile.customResponse;
        log('failed', `not allowed to use SMTP AUTH (allowance query); rejected${reply ? ` with ${reply.code}` : ''}`, where);
        this.count('auth_failed', sender);
        return { status: 'not-allowed', ...(reply ? { reply } : {}) };
      }
      const note = checked.allowed === false ? 'not allowed to use SMTP AUTH (allowance query); allowed in monitor mode' : undefined;
      log('succeeded', note, where);
      // Monitor mode exists to see who would be refused: the report counts them apart from plain successes.
      this.count(note ? 'auth_allowed_monitor' : 'auth_ok', sender);
      return { status: 'authenticated', user: username, ...(note ? { note } : {}) };
    } catch (err) {
      this.count('auth_failed', sender);
      return this.failure(err, 'SMTP AUTH', username, profileName, session);
    }
  }

  recordMessage(event: { session: SessionContext; sender: string; authenticatedUser?: string }): void {
    const sender = { user: event.authenticatedUser ?? event.sender, domain: domainOf(event.sender), ip: event.session.clientIp };
    this.count(event.authenticatedUser ? 'messages_authenticated' : 'messages_unauthenticated', sender);
  }
}
