// The crypto user's session pool of this process, opened at the first key or
// certificate operation and kept: the FIPS Officer works in a process of its own
// (src/hsm/officer-process.ts), so this login never meets an SO login.
import { existsSync } from 'node:fs';
import { HsmCertificates } from '../hsm/certificates.js';
import { hsmFiles } from '../hsm/files.js';
import { HsmKeys } from '../hsm/keys.js';
import { HsmError } from '../hsm/module.js';
import { readUserPin } from '../hsm/pin.js';
import { SessionPool } from '../hsm/pool.js';
import type { Runtime } from '../os/runtime.js';
import { AdminError } from './errors.js';
import { kindOfHsmCode } from './fips-access.js';

export interface CryptoUser {
  keys: HsmKeys;
  certificates: HsmCertificates;
}

let open: (CryptoUser & { pool: SessionPool; token: string }) | undefined;

/**
 * The pool for the runtime's token; a different token (another state folder) closes the old pool first.
 * Opened without an await in between, so two requests arriving together share one pool.
 */
export function cryptoUser(runtime: Pick<Runtime, 'config' | 'paths'>): CryptoUser {
  const { modulePath, tokenLabel } = runtime.config.hsm;
  const pinFile = hsmFiles(runtime.paths).userPin;
  const token = `${modulePath}\n${tokenLabel}\n${pinFile}`;
  if (open && open.token !== token) closeCryptoUser();
  if (!open) {
    if (!existsSync(pinFile)) throw new AdminError('the HSM is not initialised (there is no crypto-user PIN yet): run FIPS initialisation first', 'unavailable');
    const userPin = readUserPin(pinFile);
    let pool: SessionPool;
    try {
      pool = SessionPool.open({ modulePath, tokenLabel, userPin, size: 1 });
    } catch (error) {
      throw error instanceof HsmError ? new AdminError(error.message, kindOfHsmCode(error.code)) : error;
    }
    const keys = new HsmKeys(pool);
    open = { pool, token, keys, certificates: new HsmCertificates(keys) };
  }
  return open;
}

/**
 * Closes the pool (a console leaving FIPS mode, after FIPS initialisation, at the end of a console
 * session). A long-lived process serving several sessions (the web) should close it only at its end:
 * closing fails the operations of other sessions that hold one of its sessions at that moment.
 */
export function closeCryptoUser(): void {
  open?.pool.close();
  open = undefined;
}
