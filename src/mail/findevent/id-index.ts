// An index of a rolled-over log file (rolled files never change): for every
// MID, ICID and DCID in it, the byte range from its first line to its last.
// A lookup reads only those ranges instead of the whole file, and reads the
// index itself sparingly: the header says which ids a file holds at all (ids
// grow with time, so most files are skipped on the header alone), and the
// entries are found by binary search with small positional reads.
// Built on first use with one pass over the file, kept beside the logs in
// .findevent/NAME.idx, rebuilt when the file's size or time differs.
// Layout: a header line of JSON padded to 4096 bytes, then per key a section
// of Float64 triples (id, start, end) sorted by id.
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileDurably } from '../../os/atomic-file.js';
import { forEachRegion, type Range } from './scan.js';

export const idKeys = ['MID', 'ICID', 'DCID'] as const;
export type IdKey = (typeof idKeys)[number];

interface Section {
  /** Entries (not bytes) before this section. */
  first: number;
  count: number;
  min: number;
  max: number;
}

interface Header {
  size: number;
  mtimeMs: number;
  sections: Record<IdKey, Section>;
}

const headerBytes = 4096;
const entryBytes = 24;
const newline = 0x0a;
const isDigit = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x39;
const isWord = (b: number | undefined) => b !== undefined && (isDigit(b) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));

export class IdIndex {
  private constructor(
    private readonly header: Header,
    private readonly read: (entry: number) => Promise<[number, number, number]>,
    readonly close: () => Promise<void>,
  ) {}

  /** The byte range of the lines that name `KEY id` in the file, if any. */
  async range(key: IdKey, id: number): Promise<Range | undefined> {
    const section = this.header.sections[key];
    if (section.count === 0 || id < section.min || id > section.max) return undefined;
    let low = 0;
    let high = section.count - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const [found, start, end] = await this.read(section.first + middle);
      if (found === id) return { start, end };
      if (found < id) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  /** Opens the file's index, building it first when it is missing or stale. Close it after use. */
  static async forFile(path: string): Promise<IdIndex> {
    const { size, mtimeMs } = statSync(path);
    const indexPath = join(dirname(path), '.findevent', `${basename(path)}.idx`);
    const opened = await IdIndex.openStored(indexPath, size, mtimeMs);
    if (opened) return opened;
    const { header, entries } = await IdIndex.build(path, size, mtimeMs);
    const headerLine = Buffer.alloc(headerBytes, 0x20);
    headerLine.write(JSON.stringify(header));
    headerLine[headerBytes - 1] = newline;
    try {
      mkdirSync(dirname(indexPath), { recursive: true });
      writeFileDurably(indexPath, Buffer.concat([headerLine, Buffer.from(entries.buffer)]), 0o640);
    } catch {} // a read-only log folder: the index lives for this lookup only
    return new IdIndex(
      header,
      async (entry) => [entries[entry * 3] ?? 0, entries[entry * 3 + 1] ?? 0, entries[entry * 3 + 2] ?? 0],
      async () => {},
    );
  }

  private static async openStored(indexPath: string, size: number, mtimeMs: number): Promise<IdIndex | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(indexPath, 'r');
    } catch {
      return undefined;
    }
    try {
      const head = Buffer.alloc(headerBytes);
      await handle.read(head, 0, headerBytes, 0);
      const header = JSON.parse(head.toString('utf8').trim()) as Header;
      if (header.size === size && header.mtimeMs === mtimeMs) {
        const entry = Buffer.alloc(entryBytes);
        return new IdIndex(
          header,
          async (n) => {
            await handle.read(entry, 0, entryBytes, headerBytes + n * entryBytes);
            return [entry.readDoubleLE(0), entry.readDoubleLE(8), entry.readDoubleLE(16)];
          },
          () => handle.close(),
        );
      }
    } catch {}
    await handle.close();
    return undefined;
  }

  /** Removes indexes whose log file was deleted by rollover. */
  static sweep(dir: string): void {
    try {
      const present = new Set(readdirSync(dir));
      for (const f of readdirSync(join(dir, '.findevent'))) if (!present.has(f.replace(/\.idx$/, ''))) rmSync(join(dir, '.findevent', f), { force: true });
    } catch {}
  }

  private static async build(path: string, size: number, mtimeMs: number): Promise<{ header: Header; entries: Float64Array }> {
    const maps = idKeys.map(() => new Map<number, [number, number]>());
    const needles = idKeys.map((k) => Buffer.from(`${k} `));
    const handle = await open(path, 'r');
    try {
      await forEachRegion(handle, { start: 0, end: size }, (region, offset) => {
        for (let kind = 0; kind < needles.length; kind++) {
          const needle = needles[kind] as Buffer;
          const map = maps[kind] as Map<number, [number, number]>;
          let from = 0;
          for (;;) {
            const at = region.indexOf(needle, from);
            if (at < 0) break;
            from = at + needle.length;
            if (isWord(region[at - 1])) continue;
            let id = 0;
            let p = at + needle.length;
            while (isDigit(region[p])) {
              id = id * 10 + ((region[p] as number) - 0x30);
              p++;
            }
            if (p === at + needle.length) continue;
            const lineStart = region.lastIndexOf(newline, at) + 1 + offset;
            const lineEnd = region.indexOf(newline, p);
            const end = (lineEnd < 0 ? region.length : lineEnd + 1) + offset;
            const known = map.get(id);
            if (known) known[1] = end;
            else map.set(id, [lineStart, end]);
          }
        }
      });
    } finally {
      await handle.close();
    }
    const entries = new Float64Array(maps.reduce((n, m) => n + m.size, 0) * 3);
    const sections = {} as Record<IdKey, Section>;
    let i = 0;
    maps.forEach((map, kind) => {
      const ids = [...map.keys()].sort((a, b) => a - b);
      sections[idKeys[kind] as IdKey] = { first: i / 3, count: ids.length, min: ids[0] ?? 0, max: ids.at(-1) ?? 0 };
      for (const id of ids) {
        const [start, end] = map.get(id) as [number, number];
        entries.set([id, start, end], i);
        i += 3;
      }
    });
    return { header: { size, mtimeMs, sections }, entries };
  }
}
