// The deadline of a `commit confirmed`, kept by the system service alone (the console
// may be gone long before it). The service arms it at start and at every reload (every
// commit signals it), and at the deadline reverts. A revert is a commit like any other:
// a revision by "system", an audit line, an alert, and every service reloads onto it.
import type { Reversion } from './config/store.js';
import type { Runtime } from './runtime.js';
import { reloadServicesFor } from './service.js';

export class ConfirmDeadline {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runtime: Runtime) {}

  /** Watches the pending confirmation, if any; call again whenever the configuration may have changed. */
  arm(): void {
    clearTimeout(this.timer);
    const pending = this.runtime.store.pendingConfirm();
    if (!pending) return;
    const delay = Math.max(0, Date.parse(pending.deadline) - Date.now());
    this.timer = setTimeout(() => void this.revert(false).finally(() => this.arm()), delay + 50);
  }

  /** Reverts a confirmation that is overdue (or any pending one when `restarted`), and announces it. */
  async revert(restarted: boolean): Promise<Reversion | undefined> {
    let reversion: Reversion | undefined;
    try {
      reversion = await this.runtime.store.revertUnconfirmed(restarted);
    } catch (err) {
      this.runtime.logger.error({ err }, 'reverting an unconfirmed commit failed');
      this.runtime.alerts.raise({
        severity: 'critical',
        class: 'system',
        subject: 'an unconfirmed commit could not be reverted',
        detail: `${(err as Error).message}. Run "rollback" and "commit" at the console to restore the previous configuration.`,
      });
      return undefined;
    }
    if (!reversion) return undefined;
    const { meta, undone } = reversion;
    this.runtime.logs.write('cli-audit', 'warning', `System reverted revision ${undone.revision} to revision ${undone.revertTo} as revision ${meta.revision}: ${meta.comment}`);
    this.runtime.alerts.raise({ severity: 'warning', class: 'system', subject: `configuration reverted to revision ${undone.revertTo}`, detail: meta.comment });
    this.runtime.refresh();
    reloadServicesFor(this.runtime, meta.revision);
    return reversion;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
