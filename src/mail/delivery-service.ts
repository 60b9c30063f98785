// The delivery service: the queue manager on the spool the gateway fills,
// DKIM signatures made in the HSM, alerts mailed. The HSM is opened only when
// a DKIM profile exists; while it is in its error state, mail that must be
// signed stays deferred rather than leaving unsigned.
import { join } from 'node:path';
import { startHsmService } from '../hsm/context.js';
import type { HsmService } from '../hsm/service.js';
import type { Runtime } from '../os/runtime.js';
import { runService } from '../os/service.js';
import { Delivery } from './delivery/delivery.js';

let hsm: HsmService | undefined;
let delivery: Delivery | undefined;

let running: Runtime | undefined;

/** Opens the HSM once a DKIM profile needs it, and again while it is in its error state (not yet initialised). */
async function openHsmIfNeeded(runtime: Runtime): Promise<void> {
  if (runtime.config.dkim.profiles.length === 0) return;
  if (hsm?.status().state === 'error') {
    hsm.close();
    hsm = undefined;
  }
  hsm ??= await startHsmService(runtime);
}

const describe = () => `${delivery?.manager.activeCount ?? 0} messages active; ${hsm ? hsm.statusLine() : 'no DKIM profiles, HSM not opened'}`;

await runService('delivery', {
  sections: ['routes', 'dkim', 'listeners', 'certificates', 'system', 'hsm'],
  async start(runtime) {
    running = runtime;
    await openHsmIfNeeded(runtime);
    delivery = new Delivery({
      spoolDir: runtime.paths.spool,
      alertOutbox: join(runtime.paths.root, 'alerts', 'outbox'),
      config: () => runtime.config,
      logs: runtime.logs,
      alerts: runtime.alerts,
      sign: (label, data) => {
        if (!hsm) throw new Error('the HSM is not open: no DKIM profile was configured at start');
        return hsm.sign(label, data);
      },
    });
    delivery.start();
    return describe();
  },
  async reload(runtime) {
    await openHsmIfNeeded(runtime);
    return describe();
  },
  actions: {
    'hsm-recheck': async () => {
      if (running) await openHsmIfNeeded(running);
      return hsm?.statusLine() ?? 'no DKIM profiles, HSM not opened';
    },
  },
  async stop() {
    await delivery?.stop();
    hsm?.close();
  },
});
