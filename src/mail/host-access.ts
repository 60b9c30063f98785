// The host access table: ordered sender groups, each a list of entries, each
// group naming a mail flow policy. The first group with a matching entry wins.
// Entries are IPs, CIDRs, ranges (a-b), host names and .domain suffixes; names
// match only the verified reverse DNS name (PTR whose A/AAAA leads back to the
// client), looked up only where the listener enables it.
import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { parseHostAccessEntry } from '../os/config/host-access-entry.js';
import type { Listener } from '../os/config/schema.js';

interface CompiledGroup {
  name: string;
  policy: string;
  addresses: BlockList;
  names: string[];
  matchesAll: boolean;
}

export interface SenderGroupMatch {
  group: string;
  policy: string;
}

const family = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/** The verified reverse DNS name of an address, or undefined. */
export async function verifiedReverseName(ip: string, resolver: Pick<typeof dns, 'reverse' | 'lookup'> = dns): Promise<string | undefined> {
  try {
    for (const name of await resolver.reverse(ip)) {
      const forward = await resolver.lookup(name, { all: true });
      if (forward.some((a) => a.address === ip)) return name.toLowerCase().replace(/\.$/, '');
    }
  } catch {}
  return undefined;
}

export class HostAccessTable {
  private readonly groups: CompiledGroup[];

  constructor(listener: Pick<Listener, 'hostAccessTable'>) {
    this.groups = listener.hostAccessTable.map((group) => {
      const compiled: CompiledGroup = { name: group.name, policy: group.policy, addresses: new BlockList(), names: [], matchesAll: group.name === 'ALL' };
      for (const text of group.entries) {
        const entry = parseHostAccessEntry(text);
        if (entry?.kind === 'all') compiled.matchesAll = true;
        else if (entry?.kind === 'address') compiled.addresses.addAddress(entry.ip, family(entry.ip));
        else if (entry?.kind === 'subnet') compiled.addresses.addSubnet(entry.ip, entry.bits, family(entry.ip));
        else if (entry?.kind === 'range') compiled.addresses.addRange(entry.from, entry.to, family(entry.from));
        else if (entry?.kind === 'name') compiled.names.push(entry.name);
      }
      return compiled;
    });
  }

  get matchesByName(): boolean {
    return this.groups.some((g) => g.names.length > 0);
  }

  /** The first matching group, or undefined (the listener's default policy applies). */
  match(ip: string, reverseName?: string): SenderGroupMatch | undefined {
    const address = ip.replace(/^::ffff:/, '');
    for (const g of this.groups) {
      const byName = reverseName !== undefined && g.names.some((n) => (n.startsWith('.') ? reverseName.endsWith(n) : reverseName === n));
      if (g.matchesAll || g.addresses.check(address, family(address)) || byName) return { group: g.name, policy: g.policy };
    }
    return undefined;
  }
}
