// One listener's SMTP service for one committed configuration: an smtp-server
// instance with the listener's TLS context (key in the HSM) and our handlers.
// A reload builds a new endpoint for new connections; sessions already open
// keep the endpoint, and so the policy, they started with.
import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Alert } from '../os/alerts.js';
import type { ApplianceConfig, Listener } from '../os/config/schema.js';
import type { Logger } from '../os/logging/logger.js';
import type { LogSubscriptions } from '../os/logging/subscriptions.js';
import { type AbuseCounterStore, AbuseGuard, type SessionLimits } from './abuse-limits.js';
import type { CertificateFields } from './certificate-fields.js';
import { type ClientCertificateVerdict, type RevocationPolicy, verifyClientCertificate } from './client-certificate.js';
import { guardData } from './data-deadline.js';
import { DistrustList } from './distrust.js';
import { recipientVerdict, senderVerdict } from './envelope-policy.js';
import { HostAccessTable, verifiedReverseName } from './host-access.js';
import type { IdCounter } from './id-counter.js';
import { type HsmTlsMaterial, listenerTlsOptions } from './listener-tls.js';
import { type EffectivePolicy, resolvePolicy, signsWithDkim } from './mail-flow-policy.js';
import { logMailEvent, type MailLogWriter } from './mail-log.js';
import { isMessageRefusal } from './message-text-check.js';
import type { SessionContext, SmtpAuthenticator } from './smtp-auth.js';
import { replies, smtpError } from './smtp-replies.js';
import { type ConnectionPolicyView, installSmtpServerPatches } from './smtp-server-patches.js';
import type { Envelope, Spool } from './spool.js';
import { anchorCertificates, clientCertificateAuthorities } from './trust-store.js';

export interface GatewayDependencies {
  logs: Pick<LogSubscriptions, 'write'>;
  logger: Logger;
  spool: Spool;
  icids: IdCounter;
  mids: IdCounter;
  /** The listener certificate's chain and HSM key reference; throws when the HSM or the label is unusable. */
  tlsMaterial(label: string): Promise<HsmTlsMaterial>;
  revocation(): RevocationPolicy;
  /** SMTP session authentication (LDAP profiles); without it AUTH answers 454 and certificates log in nobody. */
  authenticator?: SmtpAuthenticator;
  /** False while the HSM holding the TLS keys is gone (hsm-watch.ts): STARTTLS answers 454. */
  tlsKeysAvailable?(): boolean;
  /** A connection's TLS handshake failed. */
  tlsHandshakeFailed?(err: Error): void;
  /** Where abuse blocks are announced (one alert per block start). */
  alerts?: { raise(alert: Alert): unknown };
  /** Counts of the abuse limits; by default one in-process store per gateway (abuse-limits.ts). */
  abuseStore?: AbuseCounterStore;
}

export interface ConnectionState extends ConnectionPolicyView {
  icid: number;
  senderGroup: string;
  policy: EffectivePolicy;
  messages: number;
  mid?: number;
  certificate?: CertificateFields;
  authenticatedAs?: { method: 'certificate' | 'smtp-auth'; identity: string; user: string };
  /** The directory could not be asked: authentication is temporarily unavailable (454), never refused. */
  authUnavailable?: string;
  /** Tells the listener the connection is over (its count of open connections). */
  ended?: () => void;
  abuse: SessionLimits;
}

const sessions = new WeakMap<SMTPServerSession, ConnectionState>();
installSmtpServerPatches((session) => sessions.get(session));

/** The sections besides its listener that an endpoint reads: a change to any other section leaves endpoints as they are. */
export const endpointSections = ['certificates', 'system', 'smtpAuth'] as const;
export type EndpointSection = (typeof endpointSections)[number];

export class SmtpEndpoint {
  private readonly server: SMTPServer;
  private readonly hostAccess: HostAccessTable;
  private readonly distrust: DistrustList;
  /** The listener's client-certificate CAs: Node's `ca` (what OpenSSL verifies against and the CertificateRequest lists), and the roots the chain walk must end at. */
  private readonly clientCas: { pem: string[]; anchors: X509Certificate[] };
  private tlsProblem: string | undefined;
  /** The listener's certificate profile, when it authenticates by client certificate. */
  private readonly certificateProfile: string | undefined;
  /** The LDAP profile AUTH goes through: the listener's own, or its certificate profile's fallback. */
  private readonly passwordProfile: string | undefined;
  private readonly abuse: AbuseGuard;

  private constructor(
    readonly listener: Listener,
    private readonly config: Pick<ApplianceConfig, 'certificates' | 'system' | 'smtpAuth'>,
    private readonly deps: GatewayDependencies,
    tls: HsmTlsMaterial | undefined,
    tlsProblem: string | undefined,
  ) {
    this.hostAccess = new HostAccessTable(listener);
    this.abuse = new AbuseGuard(listener.name, { logs: deps.logs, alerts: deps.alerts, store: deps.abuseStore }, deps);
    this.distrust = new DistrustList(config.certificates.distrusted);
    const clientCas = clientCertificateAuthorities(config, listener);
    this.clientCas = { pem: clientCas.map((ca) => ca.pem), anchors: anchorCertificates(clientCas) };
    this.tlsProblem = tlsProblem;
    const profile = config.smtpAuth.profiles.find((p) => p.name === listener.smtpAuthProfile);
    this.certificateProfile = profile?.type === 'certificate' ? profile.name : undefined;
    this.passwordProfile = profile?.type === 'ldap' ? profile.name : profile?.allowSmtpAuthFallback ? profile.fallbackProfile : undefined;
    const largestLimit = Math.max(...listener.policies.map((p) => resolvePolicy(listener, p.name).maxMessageBytes));
    this.server = new SMTPServer({
      name: listener.hostname,
      size: largestLimit,
      hideENHANCEDSTATUSCODES: false,
      hideSTARTTLS: tls === undefined,
      authOptional: true,
      allowInsecureAuth: true, // per policy instead: see smtp-server-patches.ts
      authMethods: ['PLAIN', 'LOGIN'],
      disableReverseLookup: true,
      logger: false,
      socketTimeout: 5 * 60_000,
      closeTimeout: 30_000,
      ...listenerTlsOptions(tls, this.clientCas.pem),
      onConnect: (session, callback) => this.onConnect(session, callback),
      onSecure: (socket, session, callback) => this.onSecure(socket as TLSSocket, session, callback),
      onAuth: (auth, session, callback) =>
        void this.onAuth(auth.username ?? '', auth.password ?? '', session).then(
          (user) => callback(null, { user }),
          (err: Error) => callback(err),
        ),
      onMailFrom: (address, session, callback) =>
        void this.spoolHasRoom().then((room) => {
          if (!room)
            this.deps.logs.write(
              'mail',
              'warning',
              `ICID ${this.state(session).icid} MAIL FROM refused: the spool is below its reserve of ${this.config.system.spoolReserveMegabytes} MB free`,
            );
          callback(room ? (this.onMailFrom(address, session) ?? undefined) : replies.spoolFull());
        }),
      onRcptTo: (address, session, callback) => callback(this.onRcptTo(address, session) ?? undefined),
      onData: (stream, session, callback) => void this.onData(stream, session).then((message) => callback(null, message), callback),
      onClose: (session) => this.onClose(session),
    } as ConstructorParameters<typeof SMTPServer>[0]);
    this.server.on('error', (err) => {
      deps.logger.warn({ err, listener: listener.name }, 'SMTP connection error');
      deps.tlsHandshakeFailed?.(err);
    });
  }

  /** Builds the endpoint; a listener whose certificate cannot be used still serves mail without TLS and says so. */
  static async create(listener: Listener, config: Pick<ApplianceConfig, EndpointSection>, deps: GatewayDependencies): Promise<SmtpEndpoint> {
    let tls: HsmTlsMaterial | undefined;
    let problem: string | undefined = listener.certificate ? undefined : 'the listener has no certificate';
    if (listener.certificate) {
      try {
        tls = await deps.tlsMaterial(listener.certificate);
      } catch (err) {
        problem = `certificate "${listener.certificate}" cannot be used: ${(err as Error).message}`;
      }
    }
    const checksCertificates =
      listener.policies.some((p) => p.verifyClientCertificate) || config.smtpAuth.profiles.some((p) => p.name === listener.smtpAuthProfile && p.type === 'certificate');
    if (checksCertificates && clientCertificateAuthorities(config, listener).length === 0) {
      // Client certificates were once checked against the system bundle too: say why every one is now refused.
      deps.logs.write(
        'mail',
        'warning',
        `listener ${listener.name} checks client certificates but trusts no CA for them: every certificate is refused; add one with certconfig trust`,
      );
    }
    try {
      return new SmtpEndpoint(listener, config, deps, tls, problem);
    } catch (err) {
      if (!tls) throw err;
      // The engine could not load the key (HSM gone, wrong PIN): serve without TLS; STARTTLS answers 454.
      return new SmtpEndpoint(listener, config, deps, undefined, `the HSM key of "${listener.certificate}" cannot be loaded: ${(err as Error).message}`);
    }
  }

  get tlsStatus(): string {
    if (!this.tlsProblem && this.deps.tlsKeysAvailable?.() === false) return 'TLS unavailable: the HSM token is gone';
    return this.tlsProblem ? `TLS unavailable: ${this.tlsProblem}` : 'TLS ready';
  }

  /** Takes over an accepted TCP connection; `ended` is called when its SMTP session closes. */
  async accept(socket: Socket, ended?: () => void): Promise<void> {
    const icid = this.deps.icids.take();
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const log: MailLogWriter = (name, fields) => logMailEvent(this.deps.logs, 'info', name, fields);
    const reverseName = this.listener.verifyReverseDns && this.hostAccess.matchesByName ? await verifiedReverseName(ip) : undefined;
    log('connection.new', {
      icid,
      listener: this.listener.name,
      address: this.listener.address,
      port: this.listener.port,
      ip,
      reverse: reverseName ?? 'unknown',
      verified: reverseName ? 'yes' : 'no',
    });
    const match = this.hostAccess.match(ip, reverseName);
    const senderGroup = match?.group ?? 'none';
    const policy = resolvePolicy(this.listener, match?.policy ?? this.listener.defaultPolicy);
    log('connection.policy', { icid, action: policy.connection.toUpperCase(), senderGroup, policy: policy.name });
    if (policy.connection === 'tcp-refuse') {
      socket.destroy();
      log('connection.close', { icid });
      return;
    }
    const slot = await this.abuse.admit(socket, ip, icid, policy);
    if (!slot) return;
    const tlsUsable = () => !this.tlsProblem && this.deps.tlsKeysAvailable?.() !== false;
    const state: ConnectionState = {
      icid,
      senderGroup,
      policy,
      messages: 0,
      tls: policy.tls,
      requireTlsForSmtpAuth: policy.requireTlsForSmtpAuth,
      bareNewline: policy.bareNewline,
      violation: (what) => log('connection.protocol-violation', { icid, what }),
      ended: () => {
        slot.release();
        ended?.();
      },
      abuse: this.abuse.session(ip, icid, policy),
      // Asked at STARTTLS time: the HSM may have gone since the connection opened.
      get tlsAvailable() {
        return tlsUsable();
      },
    };
    this.pending.set(String(icid), state);
    socket.once('close', () => this.pending.delete(String(icid))); // a client gone before smtp-server's greeting

    this.server.connect(socket, { id: String(icid) } as unknown as Parameters<SMTPServer['connect']>[1]);
  }

  /**
   * Retires the endpoint after a reload: its open sessions carry on under the
   * policy they started with, and it closes once they have ended (or after
   * `maxDrainMs`, when smtp-server's own close asks the rest to leave).
   */
  async retire(maxDrainMs = 15 * 60_000): Promise<void> {
    const deadline = Date.now() + maxDrainMs;
    while (this.openSessions > 0 && Date.now() < deadline) await sleep(1000, undefined, { ref: false });
    await this.close();
  }

  /** Closes the endpoint: smtp-server refuses further commands and gives open sessions `closeTimeout` to finish. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get openSessions(): number {
    return (this.server as unknown as { connections: Set<unknown> }).connections.size;
  }

  private readonly pending = new Map<string, ConnectionState>();

  private state(session: SMTPServerSession): ConnectionState {
    const state = sessions.get(session);
    if (!state) throw new Error('session without connection state');
    return state;
  }

  private onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const state = this.pending.get(session.id);
    this.pending.delete(session.id);
    if (!state) {
      callback(replies.accessDenied());
      return;
    }
    sessions.set(session, state);
    const disabled: string[] = [];
    if (state.policy.tls === 'off') disabled.push('STARTTLS');
    if (state.policy.smtpAuth === 'off' || !this.passwordProfile) disabled.push('AUTH');
    (session as SMTPServerSession & { disabledCommands?: string[] }).disabledCommands = disabled;
    if (state.policy.connection === 'reject') {
      logMailEvent(this.deps.logs, 'info', 'connection.rejected', { icid: state.icid, reply: '554 access denied' });
      callback(replies.accessDenied());
      return;
    }
    callback();
  }

  private context(state: ConnectionState, session: SMTPServerSession): SessionContext {
    return { icid: state.icid, clientIp: session.remoteAddress, listener: this.listener.name };
  }

  private onSecure(socket: TLSSocket, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const state = this.state(session);
    const icid = state.icid;
    const log: MailLogWriter = (name, fields) => logMailEvent(this.deps.logs, 'info', name, fields);
    log('connection.tls', { icid, protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher()?.name ?? 'unknown' });
    // A certificate is checked where the policy says so, and wherever it would log a user in.
    const enforce = state.policy.verifyClientCertificate;
    if (!enforce && !this.certificateProfile) {
      callback();
      return;
    }
    let verdict: ClientCertificateVerdict;
    try {
      verdict = verifyClientCertificate(socket, this.clientCas.anchors, this.distrust, this.deps.revocation());
    } catch (err) {
      this.deps.logger.error({ err, icid: state.icid }, 'client certificate check failed');
      verdict = { status: 'invalid', reason: 'the certificate could not be checked' };
    }
    if (verdict.status === 'none') {
      log('certificate.none', { icid });
      callback(enforce && state.policy.tls === 'required' ? replies.certificateRequired() : undefined);
      return;
    }
    if (verdict.status === 'invalid') {
      log('certificate.rejected', { icid, subject: verdict.subject ?? 'unknown', reason: verdict.reason });
      if (this.certificateProfile) this.deps.authenticator?.certificateRejected?.(this.certificateProfile, verdict.subject, verdict.reason, this.context(state, session));
      callback(enforce ? replies.certificateRejected(verdict.reason) : undefined);
      return;
    }
    state.certificate = verdict.fields;
    log('certificate.valid', {
      icid,
      subject: verdict.fields.subject,
      issuer: verdict.fields.issuer,
      serial: verdict.fields.sn,
      notes: verdict.notes.length ? ` (${verdict.notes.join('; ')})` : '',
    });
    if (!this.certificateProfile || !this.deps.authenticator) {
      callback();
      return;
    }
    this.deps.authenticator.certificateLogin(this.certificateProfile, verdict.fields, this.context(state, session)).then(
      (result) => {
        if (result.status === 'authenticated') {
          session.user = result.user;
          state.authenticatedAs = { method: 'certificate', identity: verdict.fields.subject, user: result.user };
          log('certificate.login', { icid, user: result.user });
        } else if (result.status === 'temporary-failure') {
          state.authUnavailable = result.reason;
          log('certificate.unavailable', { icid, reason: result.reason });
        } else {
          log('certificate.failed', { icid, reason: `${result.reason}${this.passwordProfile ? '; SMTP AUTH allowed as a fallback' : ''}` });
        }
        callback();
      },
      (err: Error) => {
        state.authUnavailable = err.message;
        this.deps.logger.error({ err, icid: state.icid }, 'certificate login failed');
        callback();
      },
    );
  }

  private async onAuth(username: string, password: string, session: SMTPServerSession): Promise<string> {
    const state = this.state(session);
    if (!this.passwordProfile || !this.deps.authenticator) throw replies.authUnavailable();
    const blocked = await state.abuse.beforeAuth();
    if (blocked) throw blocked;
    const result = await this.deps.authenticator.passwordLogin(this.passwordProfile, username, password, this.context(state, session));
    switch (result.status) {
      case 'authenticated':
        state.authenticatedAs = { method: 'smtp-auth', identity: result.user, user: result.user };
        return result.user;
      case 'invalid-credentials':
        throw await state.abuse.authFailed(username, replies.invalidCredentials());
      case 'not-allowed':
        throw result.reply ? smtpError(result.reply.code, '5.7.1', result.reply.text) : replies.invalidCredentials();
      case 'temporary-failure':
        throw replies.authUnavailable();
    }
  }

  private isAuthenticated(session: SMTPServerSession): boolean {
    return Boolean(session.user);
  }

  private async spoolHasRoom(): Promise<boolean> {
    try {
      return await this.deps.spool.hasRoom(this.config.system.spoolReserveMegabytes * 1024 * 1024);
    } catch {
      return false;
    }
  }

  private onMailFrom(address: SMTPServerAddress, session: SMTPServerSession): Error | undefined {
    const state = this.state(session);
    const { policy } = state;
    const declared = Number(address.args ? (address.args.SIZE ?? 0) : 0);
    const authenticated = this.isAuthenticated(session);
    switch (senderVerdict(policy, { messages: state.messages, authenticated, authUnavailable: Boolean(state.authUnavailable), declaredBytes: declared })) {
      case 'too-many-messages':
        return replies.tooManyMessages(policy.maxMessagesPerConnection);
      case 'auth-unavailable':
        return replies.authUnavailable();
      case 'auth-required':
        return replies.authRequired();
      case 'too-large':
        logMailEvent(this.deps.logs, 'info', 'sender.size-refused', { icid: state.icid, address: address.address, declared, limit: policy.maxMessageBytes });
        return replies.messageTooBig(policy.maxMessageBytes);
    }
    state.mid = this.deps.mids.take();
    logMailEvent(this.deps.logs, 'info', 'message.start', { mid: state.mid, icid: state.icid });
    logMailEvent(this.deps.logs, 'info', 'message.from', { mid: state.mid, icid: state.icid, address: address.address });
    return undefined;
  }

  private onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Error | undefined {
    const state = this.state(session);
    const { policy } = state;
    const rid = session.envelope.rcptTo.length;
    const facts = { recipients: rid, authenticated: this.isAuthenticated(session), address: address.address, acceptedDomains: this.listener.acceptedDomains };
    const verdict = recipientVerdict(policy, facts);
    if (verdict === 'too-many-recipients') return replies.tooManyRecipients(policy.maxRecipientsPerMessage);
    const event = { mid: state.mid ?? 0, icid: state.icid, rid, address: address.address };
    if (verdict === 'accept') {
      logMailEvent(this.deps.logs, 'info', 'message.to', event);
      return undefined;
    }
    logMailEvent(this.deps.logs, 'info', 'message.to-rejected', { ...event, policy: policy.name });
    return verdict === 'auth-required' ? replies.authRequired() : replies.relayDenied();
  }

  private receivedHeader(session: SMTPServerSession, mid: number): string {
    const by = this.listener.receivedHeaderHostname === 'listener' ? this.listener.hostname : this.config.system.hostname || osHostname();
    const protocol = `ESMTP${session.secure ? 'S' : ''}${session.user ? 'A' : ''}`;
    const tls = session.secure && session.tlsOptions ? ` (${session.tlsOptions.standardName ?? session.tlsOptions.name})` : '';
    return `Received: from ${session.hostNameAppearsAs || 'unknown'} ([${session.remoteAddress}])\r\n\tby ${by} with ${protocol}${tls} id ${mid};\r\n\t${new Date().toUTCString()}\r\n`;
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const state = this.state(session);
    const mid = state.mid ?? this.deps.mids.take();
    const envelope: Envelope = {
      mid,
      icid: state.icid,
      listener: this.listener.name,
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map((r) => r.address),
      clientAddress: session.remoteAddress,
      ...(state.authenticatedAs ? { authenticatedAs: { method: state.authenticatedAs.method, identity: state.authenticatedAs.identity } } : {}),
      receivedAt: new Date().toISOString(),
      ...(session.envelope.smtpUtf8 ? { smtpUtf8: true } : {}),
      reception: {
        senderGroup: state.senderGroup,
        policy: state.policy.name,
        dkimSigning: signsWithDkim(state.policy, this.listener.type, state.authenticatedAs !== undefined),
        authservId: this.listener.hostname || this.config.system.hostname,
      },
    };
    let result: Awaited<ReturnType<Spool['accept']>>;
    const deadline = guardData(stream, state.policy);
    try {
      result = await this.deps.spool.accept(this.receivedHeader(session, mid), stream, envelope, state.policy.maxMessageBytes);
    } catch (err) {
      deadline.stop();
      if (deadline.cut) {
        logMailEvent(this.deps.logs, 'warning', 'message.data-cut', { mid, icid: state.icid, ip: session.remoteAddress, reply: `421 ${deadline.reply().message}` });
        throw deadline.reply();
      }
      if (isMessageRefusal(err)) {
        // A message over the size limit gets the size reply, whatever else is wrong with its text.
        const size = (stream as { byteLength?: number }).byteLength ?? 0;
        if (size > state.policy.maxMessageBytes) {
          logMailEvent(this.deps.logs, 'info', 'message.too-large', { mid, icid: state.icid, bytes: size, limit: state.policy.maxMessageBytes });
          throw replies.messageTooBig(state.policy.maxMessageBytes);
        }
        logMailEvent(this.deps.logs, 'info', 'message.refused', { mid, icid: state.icid, reason: err.refusal });
        throw err;
      }
      this.deps.logger.error({ err, mid }, 'spool write failed');
      logMailEvent(this.deps.logs, 'warning', 'message.spool-failed', { mid, icid: state.icid, reason: (err as Error).message });
      throw (err as NodeJS.ErrnoException).code === 'ENOSPC' ? replies.spoolFull() : replies.spoolFailure();
    }
    if (!result.accepted) {
      logMailEvent(this.deps.logs, 'info', 'message.too-large', { mid, icid: state.icid, bytes: result.bytes, limit: state.policy.maxMessageBytes });
      throw replies.messageTooBig(state.policy.maxMessageBytes);
    }
    deadline.stop();
    state.messages++;
    state.abuse.messageAccepted();
    state.mid = undefined;
    this.deps.authenticator?.recordMessage({
      session: this.context(state, session),
      sender: envelope.mailFrom,
      ...(state.authenticatedAs ? { authenticatedUser: state.authenticatedAs.user } : {}),
    });
    logMailEvent(this.deps.logs, 'info', 'message.ready', { mid, icid: state.icid, bytes: result.bytes, from: envelope.mailFrom });
    return `2.0.0 Ok: queued as ${mid}`;
  }

  private onClose(session: SMTPServerSession): void {
    const state = sessions.get(session);
    if (state) logMailEvent(this.deps.logs, 'info', 'connection.close', { icid: state.icid });
    state?.ended?.();
  }
}
