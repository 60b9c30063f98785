// Run as root by appliance-network.service: renders the committed interface settings
// into /etc/systemd/network and has systemd-networkd apply them when they changed.
//   node dist/os/network-apply.js [--no-reload]
import { execFileSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigStore } from './config/store.js';
import { networkdFiles, writeNetworkdFiles } from './network.js';
import { statePaths } from './paths.js';

const dir = process.env.NETWORKD_DIR ?? '/etc/systemd/network';
const configDir = statePaths().config;
// Root reads a file the appliance account owns: never through a link it could plant.
if (lstatSync(join(configDir, 'committed.json')).isSymbolicLink()) throw new Error(`${configDir}/committed.json is a symbolic link: refusing to read it as root`);
const config = new ConfigStore(configDir).committed().config;
const files = networkdFiles(config);
if (writeNetworkdFiles(dir, files)) {
  console.log(`appliance-network: wrote ${[...files.keys()].join(', ')} in ${dir}`);
  if (!process.argv.includes('--no-reload')) execFileSync('networkctl', ['reload'], { stdio: 'inherit' });
} else {
  console.log('appliance-network: interface settings unchanged');
}
