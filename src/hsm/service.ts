// The HSM as a service process sees it: one session pool logged in as the
// crypto user, checked by the power-on self-test before any crypto is served.
// When the test fails the service stays up in an error state that refuses
// crypto, says so in its status, and raises a critical alert.
import type { Alerts } from '../os/alerts.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import type { LogSubscriptions } from '../os/logging/subscriptions.js';
import { HsmCertificates } from './certificates.js';
import type { HsmFiles } from './files.js';
import { HsmKeys } from './keys.js';
import type { KnownAnswer } from './known-answer.js';
import { HsmError } from './module.js';
import { readUserPin, userPinFile } from './pin.js';
import { SessionPool } from './pool.js';
import { powerOnSelfTest } from './self-test.js';
import { type HsmTlsOptions, tlsOptionsFor } from './tls-options.js';
import type { TokenProbeTarget } from './token-probe.js';

export type HsmStatus = { state: 'ready' } | { state: 'error'; reason: string };

export interface HsmServiceOptions {
  config: ApplianceConfig['hsm'];
  files: HsmFiles;
  alerts: Pick<Alerts, 'raise'>;
  logs: Pick<LogSubscriptions, 'write'>;
  poolSize?: number;
  env?: NodeJS.ProcessEnv;
  /** Replaces the built-in known answer (tests of the failure path). */
  selfTestVector?: KnownAnswer;
}

interface Ready {
  pool: SessionPool;
  keys: HsmKeys;
  certificates: HsmCertificates;
}

export class HsmService {
  private constructor(
    private readonly options: HsmServiceOptions,
    private readonly pinFile: string,
    private readonly ready: Ready | undefined,
    private readonly failure: string | undefined,
  ) {}

  /** Opens the pool and runs the power-on self-test. Never throws: a failure is the error state. */
  static async start(options: HsmServiceOptions): Promise<HsmService> {
    const pinFile = userPinFile(options.files.userPin, options.env);
    let pool: SessionPool | undefined;
    try {
      pool = SessionPool.open({ modulePath: options.config.modulePath, tokenLabel: options.config.tokenLabel, userPin: readUserPin(pinFile), size: options.poolSize ?? 4 });
      await powerOnSelfTest(pool, options.selfTestVector);
      options.logs.write('fips', 'info', 'HSM power-on self-test passed');
      const keys = new HsmKeys(pool);
      return new HsmService(options, pinFile, { pool, keys, certificates: new HsmCertificates(keys) }, undefined);
    } catch (error) {
      pool?.close();
      const cause =
        (error as NodeJS.ErrnoException).code === 'ENOENT' && (error as NodeJS.ErrnoException).path === pinFile
          ? 'the HSM is not initialised: there is no crypto-user PIN yet (run "fipsconfig init")'
          : error instanceof Error
            ? error.message
            : String(error);
      const reason = `power-on self-test failed: ${cause}`;
      options.logs.write('fips', 'critical', `HSM ${reason}; cryptographic operations are refused`);
      options.alerts.raise({
        severity: 'critical',
        class: 'fips',
        subject: 'HSM power-on self-test failed',
        detail: `${cause}. The service refuses cryptographic operations until the HSM passes the self-test again: it is run again after FIPS initialisation (fipsconfig init), at every commit and at every restart.`,
      });
      return new HsmService(options, pinFile, undefined, reason);
    }
  }

  status(): HsmStatus {
    return this.failure === undefined ? { state: 'ready' } : { state: 'error', reason: this.failure };
  }

  /** One line for systemd's STATUS= and the console. */
  statusLine(): string {
    return this.failure === undefined ? `HSM ready (token "${this.options.config.tokenLabel}")` : `HSM error: ${this.failure}`;
  }

  get keys(): HsmKeys {
    return this.use().keys;
  }

  get certificates(): HsmCertificates {
    return this.use().certificates;
  }

  async sign(label: string, data: Buffer): Promise<Buffer> {
    return this.use().keys.sign(label, data);
  }

  async tlsOptionsFor(label: string): Promise<HsmTlsOptions> {
    return tlsOptionsFor(this.use().certificates, label, { tokenLabel: this.options.config.tokenLabel, pinFile: this.pinFile });
  }

  /** False once this process's PKCS#11 calls on the token fail (card pulled, token files gone). */
  tokenPresent(): boolean {
    if (!this.ready) return false;
    try {
      this.ready.pool.lib.C_GetTokenInfo(this.ready.pool.slot);
      return true;
    } catch {
      return false;
    }
  }

  /** What a fresh process needs to open the token (token-probe.ts). */
  get probeTarget(): TokenProbeTarget {
    return { modulePath: this.options.config.modulePath, tokenLabel: this.options.config.tokenLabel, pinFile: this.pinFile };
  }

  close(): void {
    this.ready?.pool.close();
  }

  private use(): Ready {
    if (!this.ready) throw new HsmError('error-state', `the HSM is in an error state (${this.failure}); cryptographic operations are refused`);
    return this.ready;
  }
}
