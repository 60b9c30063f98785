// Where the HSM area keeps its files under the state folder.
import { join } from 'node:path';
import type { StatePaths } from '../os/paths.js';

export interface HsmFiles {
  /** The state folder's hsm/ folder. */
  dir: string;
  /** SoftHSM2 configuration made from softhsm/softhsm2.conf.template. */
  softhsmConf: string;
  /** SoftHSM2 token folder: zeroize empties it. */
  tokens: string;
  /** The crypto-user PIN, 0600, written at FIPS initialisation. */
  userPin: string;
  /** Consecutive failed Officer logins, written before each attempt. */
  officerFailures: string;
  /** Present while the Officer password is the image's factory one (first boot); the next Officer login must change it. */
  officerPasswordIsFactory: string;
  /** Written when the HSM was zeroized and the appliance must reboot. */
  rebootRequest: string;
}

export function hsmFiles(paths: Pick<StatePaths, 'hsm' | 'run'>): HsmFiles {
  return {
    dir: paths.hsm,
    softhsmConf: join(paths.hsm, 'softhsm2.conf'),
    tokens: join(paths.hsm, 'tokens'),
    userPin: join(paths.hsm, 'crypto-user.pin'),
    officerFailures: join(paths.hsm, 'officer-failures.json'),
    officerPasswordIsFactory: join(paths.hsm, 'officer-password-is-factory'),
    rebootRequest: join(paths.run, 'reboot-request.json'),
  };
}
