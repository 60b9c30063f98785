// The appliance's system service: it holds the configuration store's duties
// that must run even when no console is open (reverting an unconfirmed commit at
// its deadline, or at start), and reports the running revision to systemd.
import { runService } from './service.js';

const describe = (revision: number) => `running configuration revision ${revision}`;

await runService('system', {
  start: (runtime) => describe(runtime.store.committed().meta.revision),
  reload: (runtime) => describe(runtime.store.committed().meta.revision),
  stop: () => {},
});
