// What differs between the HSM card and SoftHSM2: how to zeroize it, and what
// to say about it. Everything else goes through PKCS#11 and is the same.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory } from '../os/atomic-file.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import type { HsmFiles } from './files.js';

export interface DeviceInfo {
  kind: 'softhsm2' | 'pkcs11-card';
  modulePath: string;
  tokenLabel: string;
  detail: string;
}

export interface HsmDevice {
  info(): DeviceInfo;
  /** Destroys every key and certificate on the token. The caller closes its own PKCS#11 sessions first. */
  zeroize(): Promise<void>;
}

export class SoftHsm2Device implements HsmDevice {
  constructor(
    private readonly config: ApplianceConfig['hsm'],
    private readonly files: HsmFiles,
  ) {}

  info(): DeviceInfo {
    const tokens = existsSync(this.files.tokens) ? readdirSync(this.files.tokens).length : 0;
    return {
      kind: 'softhsm2',
      modulePath: this.config.modulePath,
      tokenLabel: this.config.tokenLabel,
      detail: `SoftHSM2 token folder ${this.files.tokens} (${tokens} token${tokens === 1 ? '' : 's'})`,
    };
  }

  // SoftHSM2 has no zeroize call and never locks a PIN: deleting the token's
  // files is what destroys the keys.
  async zeroize(): Promise<void> {
    if (!existsSync(this.files.tokens)) return;
    for (const entry of readdirSync(this.files.tokens)) rmSync(join(this.files.tokens, entry), { recursive: true, force: true });
    fsyncDirectory(this.files.tokens);
  }
}

// A card zeroizes itself after its own count of failed SO logins, or through
// a vendor command; neither can run on this machine, so this stays a stub
// that refuses loudly rather than pretending the keys are gone.
export class Pkcs11CardDevice implements HsmDevice {
  constructor(private readonly config: ApplianceConfig['hsm']) {}

  info(): DeviceInfo {
    return { kind: 'pkcs11-card', modulePath: this.config.modulePath, tokenLabel: this.config.tokenLabel, detail: 'PKCS#11 card' };
  }

  async zeroize(): Promise<void> {
    throw new Error(`zeroize of a PKCS#11 card (${this.config.modulePath}) needs the card vendor's zeroize command, which is not implemented`);
  }
}

export function deviceFor(config: ApplianceConfig['hsm'], files: HsmFiles): HsmDevice {
  return config.device === 'softhsm2' ? new SoftHsm2Device(config, files) : new Pkcs11CardDevice(config);
}
