// The FIPS Officer: the token's security officer. Its password is the SO PIN,
// never stored. Runs in its own process (officer-main.ts), apart from the
// services: PKCS#11 login state is per process, and the services stay logged
// in as the crypto user.
import { rmSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { Alerts } from '../os/alerts.js';
import { writeFileDurably } from '../os/atomic-file.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import { LockTimeoutError, withFileLock } from '../os/file-lock.js';
import type { LogSubscriptions } from '../os/logging/subscriptions.js';
import type { HsmDevice } from './device.js';
import { FailureCounter } from './failure-counter.js';
import type { HsmFiles } from './files.js';
import { acquireModule, findTokenSlot, type Handle, HsmError, isInitialised, isPkcs11Error, type Pkcs11, releaseModule, tokenLabelOf } from './module.js';
import { officerPasswordProblems } from './officer-password.js';
import { generateUserPin, storeUserPin } from './pin.js';

export const maxOfficerFailures = 3;

export interface OfficerContext {
  config: ApplianceConfig['hsm'];
  files: HsmFiles;
  device: HsmDevice;
  alerts: Pick<Alerts, 'raise'>;
  logs: Pick<LogSubscriptions, 'write'>;
}

export type OfficerLoginResult =
  | { ok: true }
  | { ok: false; zeroized: false; remainingAttempts: number }
  | { ok: false; zeroized: true; rebootRequested: true; closeSession: true };

export class Officer {
  private readonly failures: FailureCounter;

  constructor(private readonly context: OfficerContext) {
    this.failures = new FailureCounter(context.files.officerFailures);
  }

  /** FIPS initialisation: sets the Officer password, initialises the token, creates the crypto-user PIN. */
  initialise(password: string): void {
    const { config, files, logs } = this.context;
    const problems = officerPasswordProblems(password, config.officerPasswordMinLength);
    if (problems.length > 0) throw new HsmError('bad-input', `the Officer password ${problems.join(', ')}`);
    this.withModule((lib) => {
      const slots = lib.C_GetSlotList(true);
      if (slots.some((slot) => isInitialised(lib, slot) && tokenLabelOf(lib, slot) === config.tokenLabel)) {
        throw new HsmError('already-initialised', `the HSM token "${config.tokenLabel}" is already initialised; zeroize it first`);
      }
      const blank = slots.find((slot) => !isInitialised(lib, slot));
      if (blank === undefined) throw new HsmError('token-missing', 'the HSM has no uninitialised token');
      lib.C_InitToken(blank, password, config.tokenLabel.padEnd(32));
      // SoftHSM2 gives an initialised token a new slot id: look it up again.
      const slot = findTokenSlot(lib, config.tokenLabel);
      const userPin = generateUserPin();
      this.asOfficer(lib, slot, password, (session) => lib.C_InitPIN(session, userPin));
      storeUserPin(files.userPin, userPin);
    });
    this.failures.write(0);
    logs.write('fips', 'info', `FIPS initialisation: HSM token "${config.tokenLabel}" initialised, crypto-user PIN created`);
  }

  /**
   * Checks the Officer password. The attempt is counted on disk before it is
   * made; the third consecutive failure zeroizes the HSM and requests a reboot.
   */
  async login(password: string): Promise<OfficerLoginResult> {
    // Two consoles must not both read the same count and each get a try on it.
    try {
      return await withFileLock(`${this.context.files.officerFailures}.lock`, () => this.attemptLogin(password));
    } catch (error) {
      if (error instanceof LockTimeoutError) throw new HsmError('busy', 'another FIPS Officer login is in progress; try again');
      throw error;
    }
  }

  private async attemptLogin(password: string): Promise<OfficerLoginResult> {
    const before = this.failures.read();
    // A count already at the limit means a third attempt never reported back (killed, power cut): it failed.
    if (before >= maxOfficerFailures) return this.zeroize('an interrupted third attempt was found on disk');
    const attempt = before + 1;
    this.failures.write(attempt);
    let correct: boolean;
    try {
      correct = this.withModule((lib) => this.tryOfficerPin(lib, password));
    } catch (error) {
      // Not a verdict on the password (no token, broken module): the attempt does not count.
      this.failures.write(before);
      throw error;
    }
    if (correct) {
      this.failures.write(0);
      this.context.logs.write('fips', 'info', 'FIPS Officer login succeeded');
      return { ok: true };
    }
    this.context.logs.write('fips', 'warning', `FIPS Officer login failed (${attempt} of ${maxOfficerFailures} consecutive failures)`);
    if (attempt >= maxOfficerFailures) return this.zeroize(`${maxOfficerFailures} consecutive failed FIPS Officer logins`);
    return { ok: false, zeroized: false, remainingAttempts: maxOfficerFailures - attempt };
  }

  /**
   * Runs `work` in a security-officer session after a counted login: a wrong
   * password here counts towards zeroize like any other.
   */
  async withOfficerSession<T>(password: string, work: (lib: Pkcs11, session: Handle) => T): Promise<{ ok: true; value: T } | Exclude<OfficerLoginResult, { ok: true }>> {
    const login = await this.login(password);
    if (!login.ok) return login;
    const value = this.withModule((lib) => {
      let result: T | undefined;
      this.asOfficer(lib, findTokenSlot(lib, this.context.config.tokenLabel), password, (session) => {
        result = work(lib, session);
      });
      return result as T;
    });
    return { ok: true, value };
  }

  /** Changes the Officer password (the SO PIN). The current one is checked as a counted login. */
  async changePassword(current: string, next: string): Promise<OfficerLoginResult> {
    const problems = officerPasswordProblems(next, this.context.config.officerPasswordMinLength);
    if (problems.length > 0) throw new HsmError('bad-input', `the new Officer password ${problems.join(', ')}`);
    const result = await this.withOfficerSession(current, (lib, session) => lib.C_SetPIN(session, current, next));
    if (!result.ok) return result;
    this.context.logs.write('fips', 'info', 'FIPS Officer password changed');
    return { ok: true };
  }

  failureCount(): number {
    return this.failures.read();
  }

  private tryOfficerPin(lib: Pkcs11, password: string): boolean {
    const slot = findTokenSlot(lib, this.context.config.tokenLabel);
    try {
      this.asOfficer(lib, slot, password, () => {});
      return true;
    } catch (error) {
      if (isPkcs11Error(error, pkcs11js.CKR_PIN_INCORRECT) || isPkcs11Error(error, pkcs11js.CKR_PIN_LEN_RANGE)) return false;
      throw error;
    }
  }

  private async zeroize(reason: string): Promise<OfficerLoginResult> {
    const { device, files, alerts, logs } = this.context;
    await device.zeroize();
    rmSync(files.userPin, { force: true });
    writeFileDurably(files.rebootRequest, `${JSON.stringify({ reason: `HSM zeroized: ${reason}`, requested: new Date().toISOString() })}\n`, 0o600);
    this.failures.write(0);
    logs.write('fips', 'critical', `HSM zeroized after ${reason}; reboot requested`);
    alerts.raise({ severity: 'critical', class: 'fips', subject: 'HSM zeroized: reboot requested', detail: `${reason}. Every key and certificate on the HSM was destroyed.` });
    return { ok: false, zeroized: true, rebootRequested: true, closeSession: true };
  }

  private asOfficer(lib: Pkcs11, slot: Handle, password: string, work: (session: Handle) => void): void {
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_Login(session, pkcs11js.CKU_SO, password);
      try {
        work(session);
      } finally {
        lib.C_Logout(session);
      }
    } finally {
      lib.C_CloseSession(session);
    }
  }

  // The module is opened for each action and closed after it, so nothing of
  // the Officer's stays loaded when the device deletes the token's files.
  private withModule<T>(work: (lib: Pkcs11) => T): T {
    const lib = acquireModule(this.context.config.modulePath);
    try {
      return work(lib);
    } finally {
      releaseModule(this.context.config.modulePath);
    }
  }
}
