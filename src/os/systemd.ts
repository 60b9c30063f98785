// Talks to systemd: READY=1, STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC,
// RELOADING=1 then READY=1 around a reload, STOPPING=1. Where NOTIFY_SOCKET is
// unset (dev mode, tests) every call does nothing. The systemd-notify package
// covers READY and STATUS; the rest goes through the same systemd-notify binary.
import { execFile } from 'node:child_process';
import notify from 'systemd-notify';

function send(assignments: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], (err) => (err ? reject(err) : resolve()));
  });
}

function monotonicUsec(): string {
  return String(process.hrtime.bigint() / 1000n);
}

export class Systemd {
  private watchdog: NodeJS.Timeout | undefined;
  readonly enabled = Boolean(process.env.NOTIFY_SOCKET);

  async ready(status: string): Promise<void> {
    if (this.enabled) await notify({ ready: true, status });
  }

  async status(status: string): Promise<void> {
    if (this.enabled) await notify({ status });
  }

  async reloading(): Promise<void> {
    if (this.enabled) await send(['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`]);
  }

  async stopping(): Promise<void> {
    this.stopWatchdog();
    if (this.enabled) await send(['STOPPING=1']);
  }

  /** Pings the watchdog at half the interval systemd asked for, if it asked. */
  startWatchdog(): number | undefined {
    const usec = Number(process.env.WATCHDOG_USEC);
    const forPid = process.env.WATCHDOG_PID;
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0 || (forPid && Number(forPid) !== process.pid)) return undefined;
    const intervalMs = Math.max(1, Math.floor(usec / 2000));
    const ping = () => void send(['WATCHDOG=1']).catch(() => {});
    ping();
    this.watchdog = setInterval(ping, intervalMs);
    this.watchdog.unref();
    return intervalMs;
  }

  stopWatchdog(): void {
    clearInterval(this.watchdog);
  }
}
