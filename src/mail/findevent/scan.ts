// Reading log files fast: large chunks, native Buffer.indexOf for the needle,
// and only the lines around a hit are ever turned into strings. A line cut by
// a chunk edge is carried into the next chunk.
import { type FileHandle, open } from 'node:fs/promises';

const chunkBytes = 8 * 1024 * 1024;
const newline = 0x0a;

export type Accept = (line: Buffer, needle: Buffer, at: number) => boolean;

/** A byte range of a file that starts at a line start and ends after a line end. */
export interface Range {
  start: number;
  end: number;
}

/** Reads [start, end) of a file as regions of whole lines; `onRegion` gets each with its file offset. */
export async function forEachRegion(handle: FileHandle, range: Range, onRegion: (region: Buffer, offset: number) => void): Promise<void> {
  let buffer = Buffer.allocUnsafe(Math.max(4096, Math.min(chunkBytes, range.end - range.start + 1)));
  let carried = 0;
  let position = range.start;
  for (;;) {
    if (carried === buffer.length) {
      // One line longer than the buffer: grow rather than cut it.
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, carried);
      buffer = bigger;
    }
    const { bytesRead } = await handle.read(buffer, carried, Math.min(buffer.length - carried, range.end - position), position);
    position += bytesRead;
    const filled = carried + bytesRead;
    const end = bytesRead === 0 ? filled : buffer.lastIndexOf(newline, filled - 1) + 1;
    if (end > 0) onRegion(buffer.subarray(0, end), position - filled);
    if (bytesRead === 0) return;
    carried = filled - end;
    buffer.copy(buffer, 0, end, filled);
  }
}

/** Calls `onLine` for every complete line that `accept` says contains a hit, once per line, in file order; only within `ranges` when given (sorted, disjoint). */
export async function scanFile(path: string, needles: Buffer[], accept: Accept, onLine: (line: string) => void, ranges?: Range[]): Promise<void> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // rolled over and deleted meanwhile
    throw err;
  });
  if (!handle) return;
  try {
    const { size } = await handle.stat();
    for (const range of ranges ?? [{ start: 0, end: size }]) await scanRange(handle, range, needles, accept, onLine);
  } finally {
    await handle.close();
  }
}

function scanRange(handle: FileHandle, range: Range, needles: Buffer[], accept: Accept, onLine: (line: string) => void): Promise<void> {
  return forEachRegion(handle, range, (region) => searchRegion(region, needles, accept, onLine));
}

function searchRegion(region: Buffer, needles: Buffer[], accept: Accept, onLine: (line: string) => void): void {
  const hits: { start: number; end: number }[] = [];
  for (const needle of needles) {
    let from = 0;
    for (;;) {
      const at = region.indexOf(needle, from);
      if (at < 0) break;
      const start = region.lastIndexOf(newline, at) + 1;
      let end = region.indexOf(newline, at + needle.length);
      if (end < 0) end = region.length;
      if (accept(region.subarray(start, end), needle, at - start)) {
        hits.push({ start, end });
        from = end + 1;
      } else from = at + 1; // the needle may still stand alone later on this line
    }
  }
  if (needles.length > 1) hits.sort((a, b) => a.start - b.start);
  let last = -1;
  for (const hit of hits) {
    if (hit.start === last) continue;
    last = hit.start;
    onLine(region.toString('utf8', hit.start, hit.end).replace(/\r$/, ''));
  }
}
