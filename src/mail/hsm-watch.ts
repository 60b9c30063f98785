// Watches the HSM token that holds the listeners' TLS keys. When it goes away
// (a card pulled, SoftHSM2's token folder gone) new STARTTLS commands get
// 454 4.7.0 instead of a handshake that fails, and an alert is raised. A token
// that is gone has taken this process's PKCS#11 sessions and the OpenSSL
// engine's with it, and the engine cannot open new ones (libp11 only does that
// after a fork). So the return is seen by a fresh process, and the service then
// restarts itself to load the keys again.
import type { Alerts } from '../os/alerts.js';
import type { LogSubscriptions } from '../os/logging/subscriptions.js';

export interface HsmWatchOptions {
  /** This process's view: false once its PKCS#11 calls on the token fail. */
  present(): boolean;
  /** A fresh module instance (another process) can use the token again. */
  probe(): Promise<{ ok: boolean; detail: string }>;
  /** Restarts the service once the token is back; never returns when it succeeds. */
  restart(): Promise<void>;
  alerts: Pick<Alerts, 'raise'>;
  logs: Pick<LogSubscriptions, 'write'>;
  intervalMs?: number;
}

const maxProbeDelayMs = 60_000;

export class HsmWatch {
  private state: 'up' | 'down' | 'restarting' = 'up';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly options: HsmWatchOptions) {}

  /** False while the token is gone: STARTTLS answers 454 rather than start a handshake the HSM cannot finish. */
  get available(): boolean {
    return this.state === 'up';
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A TLS handshake failed: if PKCS#11 failed under it, look at the token now rather than at the next tick. */
  handshakeFailed(err: Error): void {
    if (this.state === 'up' && /PKCS#11|pkcs11/i.test(err.message)) void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.state === 'up') this.checkPresent();
      else if (this.state === 'down') await this.checkReturn();
    } finally {
      this.busy = false;
    }
  }

  private checkPresent(): void {
    if (this.options.present()) return;
    this.state = 'down';
    this.options.logs.write('mail', 'critical', 'HSM token unavailable: STARTTLS is answered with 454 4.7.0 until it returns');
    this.options.alerts.raise({
      severity: 'critical',
      class: 'hardware',
      subject: 'HSM token unavailable: TLS listeners refuse STARTTLS',
      detail:
        'The HSM holding the listeners\u2019 TLS keys stopped answering. STARTTLS gets 454 4.7.0 and TLS Required sessions cannot send mail. The gateway restarts itself once the token is back.',
    });
  }

  /** A probe starts a process and logs in to the token: while it stays gone, probe less and less often (a card may lock its PIN after many failed logins). */
  private probeDelayMs = 0;
  private nextProbeAt = 0;

  private async checkReturn(): Promise<void> {
    if (Date.now() < this.nextProbeAt) return;
    const result = await this.options.probe();
    if (!result.ok) {
      this.probeDelayMs = Math.min(maxProbeDelayMs, Math.max(this.options.intervalMs ?? 2000, this.probeDelayMs * 2));
      this.nextProbeAt = Date.now() + this.probeDelayMs;
      return;
    }
    this.state = 'restarting';
    this.options.logs.write('mail', 'info', `HSM token available again (${result.detail}): the gateway restarts to load its TLS keys`);
    this.options.alerts.raise({
      severity: 'information',
      class: 'hardware',
      subject: 'HSM token available again: TLS service resumes',
      detail: `${result.detail}. The gateway service restarts to load its TLS keys from the HSM.`,
    });
    try {
      await this.options.restart();
    } catch (err) {
      this.state = 'down';
      this.options.logs.write('mail', 'critical', `the gateway could not restart after the HSM returned: ${(err as Error).message}`);
    }
  }
}
