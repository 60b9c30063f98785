// One entry of a host access table sender group, parsed. The schema uses it to
// refuse a bad entry at commit; the listener uses it to build its matcher.
import { isIP } from 'node:net';

export type HostAccessEntry =
  | { kind: 'all' }
  | { kind: 'address'; ip: string }
  | { kind: 'subnet'; ip: string; bits: number }
  | { kind: 'range'; from: string; to: string }
  | { kind: 'name'; name: string };

const hostOrSuffix = /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export function parseHostAccessEntry(entry: string): HostAccessEntry | undefined {
  const value = entry.trim().toLowerCase();
  if (value === 'all') return { kind: 'all' };
  if (isIP(value)) return { kind: 'address', ip: value };
  const subnet = /^([0-9a-f.:]+)\/(\d{1,3})$/.exec(value);
  if (subnet) {
    const [, ip, bits] = subnet as unknown as [string, string, string];
    const max = isIP(ip) === 4 ? 32 : isIP(ip) === 6 ? 128 : -1;
    return Number(bits) <= max ? { kind: 'subnet', ip, bits: Number(bits) } : undefined;
  }
  const range = /^([0-9a-f.:]+)-([0-9a-f.:]+)$/.exec(value);
  if (range) {
    const [, from, to] = range as unknown as [string, string, string];
    return isIP(from) && isIP(from) === isIP(to) ? { kind: 'range', from, to } : undefined;
  }
  return hostOrSuffix.test(value) ? { kind: 'name', name: value } : undefined;
}
