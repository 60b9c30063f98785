// Where the appliance keeps its state. One root (APPLIANCE_STATE_DIR, or
// /var/lib/appliance on the image), everything else below it.
import { join } from 'node:path';

export interface StatePaths {
  root: string;
  config: string;
  logs: string;
  run: string;
  hsm: string;
  spool: string;
  crl: string;
}

export function statePaths(root = process.env.APPLIANCE_STATE_DIR ?? '/var/lib/appliance'): StatePaths {
  return {
    root,
    config: join(root, 'config'),
    logs: join(root, 'logs'),
    run: join(root, 'run'),
    hsm: join(root, 'hsm'),
    spool: join(root, 'spool'),
    crl: join(root, 'crl'),
  };
}
