// The appliance's system service: it holds the configuration store's duties that
// must run even when no console is open. It owns the deadline of `commit confirmed`
// (a start reverts a pending one, as a reboot does; then it reverts at the deadline)
// and reports the running revision to systemd.
import { ConfirmDeadline } from './confirm-deadline.js';
import type { Runtime } from './runtime.js';
import { runService } from './service.js';

let deadline: ConfirmDeadline | undefined;

const describe = (runtime: Runtime) => `running configuration revision ${runtime.store.committed().meta.revision}`;

await runService('system', {
  sections: 'every commit', // each commit may start or end a confirmation's deadline
  async start(runtime) {
    deadline = new ConfirmDeadline(runtime);
    await deadline.revert(true);
    deadline.arm();
    return describe(runtime);
  },
  reload(runtime) {
    deadline?.arm();
    return describe(runtime);
  },
  stop: () => deadline?.stop(),
});
