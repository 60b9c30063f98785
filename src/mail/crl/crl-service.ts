// The CRL service: runs each source's schedule, downloads (primary, then
// secondary), judges the CRL, keeps it on disk and in the revocation index,
// records status, logs each attempt and raises alerts. The gateway calls
// `check` after STARTTLS.

import { rmSync } from 'node:fs';
import type { Alert } from '../../os/alerts.js';
import type { ApplianceConfig } from '../../os/config/schema.js';
import { downloadToFile } from '../../os/fetch.js';
import type { LogLevel } from '../../os/logging/subscriptions.js';
import { judgeCrl } from './acceptance.js';
import { type TrustAnchor, trustAnchors } from './certificate.js';
import { crlDerFile } from './decode.js';
import { CrlFormatError } from './der.js';
import { describeName } from './names.js';
import { type HeldCrl, issuerKey, type PeerCertificate, RevocationIndex, type RevocationStatus } from './revocation-index.js';
import { SavedState, type SourceStatus } from './saved-state.js';
import { type ScannedCrl, scanCrlFile } from './scan.js';
import { runOnSchedule, type ScheduledRun } from './schedule.js';

export type CrlSource = ApplianceConfig['crl']['sources'][number];
type CrlConfig = Pick<ApplianceConfig, 'crl' | 'certificates' | 'system'>;

export interface CrlServiceOptions {
  config: CrlConfig;
  /** statePaths().crl */
  stateDir: string;
  alerts: { raise(alert: Alert): unknown };
  logs: { write(type: 'crl', level: LogLevel, message: string): void };
  now?: () => Date;
  /** A held CRL this close to its nextUpdate, whose refresh failed, raises a warning alert. */
  expiryWarningMs?: number;
  /** How often held CRLs are checked for coming expiry between downloads. */
  expiryCheckIntervalMs?: number;
  /** Download at once, at start and when a source is added, for enabled sources with no CRL held (default true): a daily schedule would otherwise leave them without one until it runs. */
  fetchWhenMissing?: boolean;
}

/** The gateway's answer: accept or refuse the client certificate, and what to log. */
export type RevocationDecision = (RevocationStatus | { status: 'unreadable' }) & { accept: boolean; message: string };

export type CheckerStatus = { status: 'good' } | { status: 'revoked'; reason: string } | { status: 'unknown'; reason: string };

const progressLogIntervalMs = 1000;

export class CrlService {
  readonly index = new RevocationIndex();
  private config: CrlConfig;
  private anchors: TrustAnchor[];
  private readonly saved: SavedState;
  private readonly statuses = new Map<string, SourceStatus>();
  private readonly schedules = new Map<string, ScheduledRun>();
  private readonly running = new Map<string, Promise<SourceStatus>>();
  private readonly alerted = new Set<string>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: CrlServiceOptions) {
    this.config = options.config;
    this.anchors = this.readTrustStore(options.config);
    this.saved = new SavedState(options.stateDir);
    this.now = options.now ?? (() => new Date());
  }

  /** Loads the CRLs kept on disk, then starts the schedules. */
  start(): void {
    try {
      this.saved.clearDownloads();
    } catch (error) {
      this.log('warning', `CRL downloads left by an earlier run could not be removed: ${(error as Error).message}`);
    }
    this.loadSaved();
    this.schedule();
    this.fetchMissing();
    this.expiryTimer = setInterval(() => this.checkExpiry(), this.options.expiryCheckIntervalMs ?? 10 * 60_000);
    this.expiryTimer.unref();
  }

  stop(): void {
    for (const run of this.schedules.values()) run.stop();
    this.schedules.clear();
    clearInterval(this.expiryTimer);
  }

  /** Applies a committed configuration: schedules follow the sources; a changed trust store re-judges the saved CRLs. */
  reconfigure(config: CrlConfig): void {
    const trustChanged = JSON.stringify(config.certificates.trustStore) !== JSON.stringify(this.config.certificates.trustStore);
    this.config = config;
    if (trustChanged) this.anchors = this.readTrustStore(config);
    const names = new Set(config.crl.sources.map((s) => s.name));
    for (const crl of this.index.all()) {
      if (!names.has(crl.source) || trustChanged) this.index.remove(issuerKey(crl.issuer, crl.keyId));
    }
    if (trustChanged) this.loadSaved();
    this.schedule();
    this.fetchMissing();
  }

  /** The "fetch now" action; a download already running for the source is joined, not repeated. */
  fetchNow(name: string): Promise<SourceStatus> {
    const source = this.config.crl.sources.find((s) => s.name === name);
    if (!source) return Promise.reject(new Error(`no CRL source named "${name}"`));
    const running = this.running.get(name);
    if (running) return running;
    const attempt = this.attempt(source).finally(() => this.running.delete(name));
    this.running.set(name, attempt);
    return attempt;
  }

  status(): SourceStatus[] {
    return this.config.crl.sources.map((s) => {
      const status = this.statusOf(s.name);
      const next = this.schedules.get(s.name)?.nextRun();
      if (next) status.nextRun = next.toISOString();
      else delete status.nextRun;
      return status;
    });
  }

  /** The revocation check after STARTTLS, with the global switch and the no-CRL policy applied. */
  check(peer: PeerCertificate): RevocationDecision {
    if (!this.config.crl.enabled) return { status: 'good', issuer: '', serial: '', accept: true, message: 'CRL checking is disabled' };
    let result: RevocationStatus;
    try {
      result = this.index.check(peer, this.now());
    } catch (error) {
      return { status: 'unreadable', accept: false, message: `the certificate could not be read for the CRL check: ${(error as Error).message}` };
    }
    switch (result.status) {
      case 'good':
        return { ...result, accept: true, message: `certificate ${result.serial} from ${result.issuer} is not revoked` };
      case 'revoked':
        return { ...result, accept: false, message: `certificate ${result.serial} from ${result.issuer} is revoked (${result.reason})` };
      case 'no-current-crl': {
        const allow = this.config.crl.whenIssuerHasNoCrl === 'allow-and-log';
        if (allow) this.log('warning', `No current CRL for certificate ${result.serial}: ${result.detail}; allowed by policy allow-and-log`);
        return { ...result, accept: allow, message: `${result.detail}; ${allow ? 'allowed' : 'refused'} by the no-CRL policy` };
      }
    }
  }

  /**
   * The index alone, shaped as the gateway's RevocationChecker (src/mail/client-certificate.ts):
   * the caller applies the switch and the no-CRL policy itself.
   */
  revocationChecker(): { check(leaf: PeerCertificate): CheckerStatus } {
    return {
      check: (leaf) => {
        let result: RevocationStatus;
        try {
          result = this.index.check(leaf, this.now());
        } catch (error) {
          return { status: 'unknown', reason: `the certificate could not be read for the CRL check: ${(error as Error).message}` };
        }
        if (result.status === 'good') return { status: 'good' };
        if (result.status === 'revoked') return { status: 'revoked', reason: result.reason };
        return { status: 'unknown', reason: result.detail };
      },
    };
  }

  private readTrustStore(config: CrlConfig): TrustAnchor[] {
    return trustAnchors(config.certificates.trustStore, (name, reason) =>
      this.log('critical', `trust store certificate "${name}" cannot be read and cannot vouch for CRLs: ${reason}`),
    );
  }

  private statusOf(name: string): SourceStatus {
    let status = this.statuses.get(name);
    if (!status) {
      status = this.saved.loadStatus(name);
      this.statuses.set(name, status);
    }
    return status;
  }

  private schedule(): void {
    for (const run of this.schedules.values()) run.stop();
    this.schedules.clear();
    for (const source of this.config.crl.sources) {
      if (!source.enabled) continue;
      try {
        this.schedules.set(
          source.name,
          runOnSchedule(source.name, source.schedule, this.config.system.timezone, () => this.fetchNow(source.name)),
        );
      } catch (error) {
        this.log('critical', `CRL source ${source.name}: not scheduled: ${(error as Error).message}`);
      }
    }
  }

  private fetchMissing(): void {
    if (this.options.fetchWhenMissing === false) return;
    const held = new Set(this.index.all().map((c) => c.source));
    for (const source of this.config.crl.sources) {
      if (source.enabled && !held.has(source.name)) this.fetchNow(source.name).catch(() => {});
    }
  }

  private loadSaved(): void {
    const sources = new Set(this.config.crl.sources.map((s) => s.name));
    for (const { source, path } of this.saved.savedCrls()) {
      if (!sources.has(source)) continue;
      try {
        let crl: ScannedCrl;
        try {
          crl = scanCrlFile(path);
        } catch (error) {
          if (error instanceof CrlFormatError) this.setAsideDamaged(source, path, error.message);
          throw error;
        }
        const verdict = judgeCrl(crl, this.anchors, { now: this.now(), heldFor: (a) => this.heldFor(a), checkFreshness: false });
        if (!verdict.accepted && verdict.damaged) this.setAsideDamaged(source, path, verdict.reason);
        if (!verdict.accepted) throw new Error(verdict.reason);
        const held = this.heldFor(verdict.anchor);
        if (held && held.crlNumber !== undefined && crl.crlNumber !== undefined && held.crlNumber > crl.crlNumber) continue;
        this.index.replace(heldCrl(source, crl, verdict.anchor));
        const expired = crl.nextUpdate && crl.nextUpdate < this.now() ? ' (expired: checks report no current CRL)' : '';
        this.log('info', `CRL source ${source}: loaded the saved CRL of ${describeName(crl.issuer)}, ${crl.revoked.size} entries${expired}`);
      } catch (error) {
        this.log('warning', `CRL source ${source}: the saved CRL ${path} was not loaded: ${(error as Error).message}`);
      }
    }
  }

  /** A saved CRL whose bytes are wrong would fail every start: it goes to corrupt/, an alert says so, and the source is downloaded again. */
  private setAsideDamaged(source: string, path: string, reason: string): void {
    let where: string;
    try {
      where = `it was moved to ${this.saved.setAside(source, path)}`;
    } catch (error) {
      where = `it could not be moved aside: ${(error as Error).message}`;
    }
    this.log('warning', `CRL source ${source}: the saved CRL ${path} does not verify (${reason}: damaged, or its CA was re-keyed); ${where}`);
    this.options.alerts.raise({
      severity: 'warning',
      class: 'crl',
      subject: `CRL source ${source}: the saved CRL does not verify and was set aside`,
      detail: `${path}: ${reason}; ${where}. Until a new CRL is downloaded, none is held for this source.`,
    });
  }

  private heldFor(anchor: TrustAnchor): HeldCrl | undefined {
    return this.index.get(issuerKey(anchor.fields.subject, anchor.keyId));
  }

  private async attempt(source: CrlSource): Promise<SourceStatus> {
    const status = this.statusOf(source.name);
    status.lastAttempt = this.now().toISOString();
    const urls = [source.primaryUrl, ...(source.secondaryUrl ? [source.secondaryUrl] : [])];
    const failures: string[] = [];
    for (const url of urls) {
      status.urlUsed = url;
      try {
        const { crl, file, anchor } = await this.download(source, url, status);
        this.saved.keepCrl(source.name, file);
        this.index.replace(heldCrl(source.name, crl, anchor));
        Object.assign(status, {
          lastSuccess: this.now().toISOString(),
          entries: crl.revoked.size,
          crlNumber: crl.crlNumber?.toString(),
          issuer: describeName(crl.issuer),
          thisUpdate: crl.thisUpdate.toISOString(),
          nextUpdate: crl.nextUpdate?.toISOString(),
          lastError: undefined,
        });
        this.log(
          'info',
          `CRL source ${source.name}: accepted the CRL from ${url}: issuer ${status.issuer}, CRL number ${status.crlNumber ?? 'none'}, ${crl.revoked.size} entries, thisUpdate ${status.thisUpdate}, nextUpdate ${status.nextUpdate}`,
        );
        this.finish(status);
        return status;
      } catch (error) {
        const reason = (error as Error).message;
        failures.push(`${url}: ${reason}`);
        this.log('warning', `CRL source ${source.name}: ${url} failed: ${reason}`);
      }
    }
    status.lastError = failures.join('; ');
    const held = this.index.all().find((c) => c.source === source.name);
    const kept = held ? `the last good CRL (thisUpdate ${held.thisUpdate.toISOString()}) stays in use` : 'no CRL is held for it';
    this.log('warning', `CRL source ${source.name}: no new CRL; ${kept}`);
    this.options.alerts.raise({ severity: 'warning', class: 'crl', subject: `CRL source ${source.name}: the CRL was not updated; ${kept}`, detail: status.lastError });
    this.finish(status);
    this.checkExpiry();
    return status;
  }

  /** Downloads to a temporary file, scans and judges it there; the caller keeps the file it returns (a refused one is removed). */
  private async download(source: CrlSource, url: string, status: SourceStatus): Promise<{ crl: ScannedCrl; file: string; anchor: TrustAnchor }> {
    this.log('info', `CRL source ${source.name}: downloading ${url}`);
    const started = Date.now();
    let lastProgressLog = started;
    status.inProgress = { url, received: 0 };
    let downloaded: Awaited<ReturnType<typeof downloadToFile>>;
    try {
      downloaded = await downloadToFile(url, this.saved.downloadDir(), {
        maxBytes: source.maxBytes,
        timeoutMs: source.timeoutSeconds * 1000,
        trustedCas: this.config.certificates.trustStore.map((c) => c.pem),
        onProgress: (received, total) => {
          status.inProgress = total === undefined ? { url, received } : { url, received, total };
          if (Date.now() - lastProgressLog >= progressLogIntervalMs) {
            lastProgressLog = Date.now();
            this.log('info', `CRL source ${source.name}: ${url}: received ${received}${total === undefined ? '' : ` of ${total}`} bytes`);
          }
        },
      });
    } finally {
      delete status.inProgress;
    }
    const redirected = downloaded.url === new URL(url).href ? '' : ` (redirected to ${downloaded.url})`;
    this.log('info', `CRL source ${source.name}: ${url}: received ${downloaded.bytes} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s${redirected}`);
    let file: string | undefined;
    try {
      file = crlDerFile(downloaded.path, source.fileType);
      const crl = scanCrlFile(file);
      const verdict = judgeCrl(crl, this.anchors, { now: this.now(), heldFor: (a) => this.heldFor(a) });
      if (!verdict.accepted) throw new Error(`CRL refused: ${verdict.reason}`);
      return { crl, file, anchor: verdict.anchor };
    } catch (error) {
      if (file) rmSync(file, { force: true });
      throw error;
    } finally {
      if (file !== downloaded.path) rmSync(downloaded.path, { force: true });
    }
  }

  private finish(status: SourceStatus): void {
    try {
      this.saved.saveStatus(status);
    } catch (error) {
      this.log('critical', `CRL source ${status.name}: status not saved: ${(error as Error).message}`);
    }
  }

  /** Warns once per CRL that is near its nextUpdate while its source's last download failed, and once more when it has expired. */
  checkExpiry(): void {
    const now = this.now().getTime();
    const window = this.options.expiryWarningMs ?? 24 * 3600_000;
    for (const crl of this.index.all()) {
      const status = this.statusOf(crl.source);
      const left = crl.nextUpdate.getTime() - now;
      const issuer = describeName(crl.issuer);
      const id = `${crl.source}|${crl.thisUpdate.toISOString()}`;
      if (left < 0 && !this.alerted.has(`${id}|expired`)) {
        this.alerted.add(`${id}|expired`);
        const policy = this.config.crl.whenIssuerHasNoCrl === 'reject' ? 'refused' : 'allowed and logged';
        this.options.alerts.raise({
          severity: 'critical',
          class: 'crl',
          subject: `CRL source ${crl.source}: the CRL of ${issuer} expired at ${crl.nextUpdate.toISOString()}`,
          detail: `Client certificates from ${issuer} are ${policy} until a current CRL is downloaded.${status.lastError ? ` Last error: ${status.lastError}` : ''}`,
        });
      } else if (left >= 0 && left < window && status.lastError && !this.alerted.has(`${id}|expiring`)) {
        this.alerted.add(`${id}|expiring`);
        this.options.alerts.raise({
          severity: 'warning',
          class: 'crl',
          subject: `CRL source ${crl.source}: the CRL of ${issuer} expires at ${crl.nextUpdate.toISOString()} and could not be refreshed`,
          detail: status.lastError,
        });
      }
    }
  }

  private log(level: LogLevel, message: string): void {
    this.options.logs.write('crl', level, message);
  }
}

function heldCrl(source: string, crl: ScannedCrl, anchor: TrustAnchor): HeldCrl {
  const held: HeldCrl = {
    source,
    issuer: anchor.fields.subject,
    keyId: anchor.keyId,
    thisUpdate: crl.thisUpdate,
    // Judged CRLs always have a nextUpdate; a saved one without it is treated as expired.
    nextUpdate: crl.nextUpdate ?? crl.thisUpdate,
    revoked: crl.revoked,
  };
  if (crl.crlNumber !== undefined) held.crlNumber = crl.crlNumber;
  return held;
}
