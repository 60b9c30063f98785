// The gateway service: the SMTP listeners of the committed configuration, with
// their TLS keys in the HSM. A commit (SIGHUP) re-applies the listeners without
// dropping open sessions.
// Message fsyncs run on libuv's thread pool: more threads, more messages committed at once.
process.env.UV_THREADPOOL_SIZE ??= '16';

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startHsmService } from '../hsm/context.js';
import type { HsmService } from '../hsm/service.js';
import { probeToken } from '../hsm/token-probe.js';
import type { Runtime } from '../os/runtime.js';
import { runService } from '../os/service.js';
import { LdapSmtpAuthenticator } from './auth/authenticator.js';
import { AuthReportStore, authReportPath } from './auth/report-store.js';
import { CrlService } from './crl/crl-service.js';
import { Gateway } from './gateway.js';
import { HsmWatch } from './hsm-watch.js';
import { IdCounter } from './id-counter.js';
import { highestSpooledMid, Spool } from './spool.js';

let hsm: HsmService | undefined;
let gateway: Gateway | undefined;
let authenticator: LdapSmtpAuthenticator | undefined;
let report: AuthReportStore | undefined;
let crl: CrlService | undefined;
let watch: HsmWatch | undefined;
let running: Runtime | undefined;

async function stopAll(): Promise<void> {
  watch?.stop();
  crl?.stop();
  await gateway?.close();
  report?.close();
  hsm?.close();
}

/** After the HSM came back: a new process image gets a fresh PKCS#11 module and OpenSSL engine, under the same pid. */
async function restartInPlace(runtime: Runtime): Promise<void> {
  await stopAll();
  // No commit may signal the new image before it has its SIGHUP handler: it writes the pid file again once started.
  rmSync(join(runtime.paths.run, 'gateway.pid'), { force: true });
  runtime.close();
  try {
    process.execve?.(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)]);
  } finally {
    process.exit(75); // no execve, or it failed: systemd's Restart=on-failure starts the service again
  }
}

function watchHsm(runtime: Runtime): HsmWatch | undefined {
  const service = hsm;
  if (service?.status().state !== 'ready') return undefined;
  const hsmWatch = new HsmWatch({
    present: () => service.tokenPresent(),
    probe: () => probeToken(service.probeTarget),
    restart: () => restartInPlace(runtime),
    alerts: runtime.alerts,
    logs: runtime.logs,
  });
  hsmWatch.start();
  return hsmWatch;
}

/** The HSM was not usable (not yet initialised, no PIN yet): open it and run the self-test again. */
async function reopenHsmIfFailed(runtime: Runtime): Promise<void> {
  if (hsm?.status().state !== 'error') return;
  hsm.close();
  hsm = await startHsmService(runtime);
  watch?.stop();
  watch = watchHsm(runtime);
}

const describe = () => [hsm?.statusLine() ?? 'HSM not opened', ...(gateway?.status() ?? [])].join('; ');

await runService('gateway', {
  sections: ['listeners', 'certificates', 'system', 'smtpAuth', 'ldap', 'crl', 'hsm'],
  async start(runtime) {
    running = runtime;
    hsm = await startHsmService(runtime);
    crl = new CrlService({ config: runtime.config, stateDir: runtime.paths.crl, alerts: runtime.alerts, logs: runtime.logs });
    crl.start();
    report = new AuthReportStore(authReportPath(runtime.paths.root));
    authenticator = new LdapSmtpAuthenticator(runtime.config, {
      logs: runtime.logs,
      logger: runtime.logger,
      report,
      clientCertificate: (label) => {
        if (!hsm) throw new Error('the HSM is not open');
        return hsm.tlsOptionsFor(label);
      },
    });
    const spool = new Spool(runtime.paths.spool);
    const halfWritten = spool.removeTemporaries();
    if (halfWritten.length > 0) runtime.logs.write('mail', 'info', `removed ${halfWritten.length} half-written spool files a stop cut off (never acknowledged)`);
    gateway = new Gateway({
      logs: runtime.logs,
      logger: runtime.logger,
      spool,
      icids: new IdCounter(join(runtime.paths.spool, 'next-icid')),
      mids: new IdCounter(join(runtime.paths.spool, 'next-mid'), {
        inUse: () => highestSpooledMid(runtime.paths.spool),
        onUnreadable: ({ setAsideAs, next }) =>
          runtime.alerts.raise({
            severity: 'warning',
            class: 'mail',
            subject: 'the MID counter was unreadable and was set aside',
            detail: `moved to ${setAsideAs}; MIDs go on from ${next}, above every message in the spool`,
          }),
      }),
      tlsMaterial: (label) => {
        if (!hsm) throw new Error('the HSM is not open');
        return hsm.tlsOptionsFor(label);
      },
      revocation: () => ({ checker: runtime.config.crl.enabled ? crl?.revocationChecker() : undefined, whenUnknown: runtime.config.crl.whenIssuerHasNoCrl }),
      authenticator,
      alerts: runtime.alerts,
      tlsKeysAvailable: () => watch?.available ?? true,
      tlsHandshakeFailed: (err) => watch?.handshakeFailed(err),
    });
    watch = watchHsm(runtime);
    await gateway.apply(runtime.config);
    return describe();
  },
  async reload(runtime) {
    await reopenHsmIfFailed(runtime);
    crl?.reconfigure(runtime.config);
    authenticator?.apply(runtime.config);
    await gateway?.apply(runtime.config);
    return describe();
  },
  actions: {
    'hsm-status': () => hsm?.statusLine() ?? 'HSM not opened',
    'hsm-recheck': async () => {
      if (running) await reopenHsmIfFailed(running);
      return hsm?.statusLine() ?? 'HSM not opened';
    },
    'crl-status': () => crl?.status() ?? [],
    'crl-fetch': (payload) => {
      if (!crl) throw new Error('the CRL service is not running');
      return crl.fetchNow(String(payload.source));
    },
  },
  stop: stopAll,
});
