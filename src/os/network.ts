// The appliance's interfaces as systemd-networkd configuration: one .network file per
// interface setting, written by the root unit appliance-network.service
// (dist/os/network-apply.js) at boot and after each commit that changes them.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from './atomic-file.js';
import type { ApplianceConfig } from './config/schema.js';

const prefix = '10-appliance-';

/** File name → contents of the .network files for these settings. */
export function networkdFiles(config: Pick<ApplianceConfig, 'network' | 'system'>): Map<string, string> {
  const files = new Map<string, string>();
  for (const iface of config.network.interfaces) {
    const lines = [`# Written by the appliance from its committed configuration (interface "${iface.name}"); edit it with interfaceconfig.`, '[Match]', `Name=${iface.match}`, ''];
    if (iface.mtu) lines.push('[Link]', `MTUBytes=${iface.mtu}`, '');
    lines.push('[Network]', `DHCP=${iface.dhcp ? 'yes' : 'no'}`, 'LinkLocalAddressing=no', 'IPv6AcceptRA=no');
    for (const address of iface.addresses) lines.push(`Address=${address}`);
    if (iface.gateway) lines.push(`Gateway=${iface.gateway}`);
    for (const dns of config.system.dnsServers) lines.push(`DNS=${dns}`);
    files.set(`${prefix}${iface.name}.network`, `${lines.join('\n')}\n`);
  }
  return files;
}

/** Writes the files into `dir`, removes the appliance's files no setting names any more; returns whether anything changed. */
export function writeNetworkdFiles(dir: string, files: Map<string, string>): boolean {
  mkdirSync(dir, { recursive: true });
  let changed = false;
  for (const old of readdirSync(dir).filter((f) => f.startsWith(prefix) && !files.has(f))) {
    rmSync(join(dir, old));
    changed = true;
  }
  for (const [name, text] of files) {
    let current: string | undefined;
    try {
      current = readFileSync(join(dir, name), 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    writeFileDurably(join(dir, name), text, 0o644);
    changed = true;
  }
  return changed;
}
