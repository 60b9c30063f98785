// The gateway service: the SMTP listeners of the committed configuration, with
// their TLS keys in the HSM. A commit (SIGHUP) re-applies the listeners without
// dropping open sessions.
// Message fsyncs run on libuv's thread pool: more threads, more messages committed at once.
process.env.UV_THREADPOOL_SIZE ??= '16';

import { join } from 'node:path';
import { startHsmService } from '../hsm/context.js';
import type { HsmService } from '../hsm/service.js';
import { runService } from '../os/service.js';
import { Gateway } from './gateway.js';
import { IdCounter } from './id-counter.js';
import { Spool } from './spool.js';

let hsm: HsmService | undefined;
let gateway: Gateway | undefined;

const describe = () => [hsm?.statusLine() ?? 'HSM not opened', ...(gateway?.status() ?? [])].join('; ');

await runService('gateway', {
  async start(runtime) {
    hsm = await startHsmService(runtime);
    gateway = new Gateway({
      logs: runtime.logs,
      logger: runtime.logger,
      spool: new Spool(runtime.paths.spool),
      icids: new IdCounter(join(runtime.paths.spool, 'next-icid')),
      mids: new IdCounter(join(runtime.paths.spool, 'next-mid')),
      tlsMaterial: (label) => {
        if (!hsm) throw new Error('the HSM is not open');
        return hsm.tlsOptionsFor(label);
      },
      revocation: () => ({ checker: undefined, whenUnknown: runtime.config.crl.whenIssuerHasNoCrl }),
    });
    await gateway.apply(runtime.config);
    return describe();
  },
  async reload(runtime) {
    await gateway?.apply(runtime.config);
    return describe();
  },
  async stop() {
    await gateway?.close();
    hsm?.close();
  },
});
