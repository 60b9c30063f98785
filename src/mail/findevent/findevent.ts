// findevent: every mail log line of a message, found by MID, sender,
// recipient or subject, over the rolled-over files and the current one.
// A MID matches wherever "MID n" stands as a whole number, whatever follows it:
// a space, a colon (seed 76277), a bracket, the end of the line. The
// message's connection lines (ICID n …, DCID n …) come with it. Rolled files
// are read through their id index (id-index.ts); the current file is scanned.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { idsIn, type MailEventName, parseMailEvent, textOfLogLine } from '../mail-log.js';
import { IdIndex, type IdKey } from './id-index.js';
import { type Range, scanFile } from './scan.js';

export interface FindQuery {
  mid?: number;
  /** The envelope sender, as in `From: <address>` (case-insensitive). */
  sender?: string;
  /** A recipient, as in `To: <address>` (case-insensitive). */
  recipient?: string;
  /** A part of the subject (case-sensitive, as logged). */
  subject?: string;
}

/** A subscription's files in time order: rolled files (oldest first), then the current one. */
export function logFiles(dir: string, name: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const rolled = entries.filter((f) => f.startsWith(`${name}.@`) && f.endsWith('.s')).sort();
  return [...rolled, ...(entries.includes(`${name}.current`) ? [`${name}.current`] : [])].map((f) => join(dir, f));
}

const isDigit = (byte: number | undefined) => byte !== undefined && byte >= 0x30 && byte <= 0x39;
const isWordByte = (byte: number | undefined) => byte !== undefined && (isDigit(byte) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a));

/** "KEY n" standing alone: no letter or digit before KEY, no digit after n. */
const wholeId = (line: Buffer, needle: Buffer, at: number) => !isWordByte(line[at - 1]) && !isDigit(line[at + needle.length]);

/** Sorted, overlapping or touching ranges joined. */
function merged(ranges: Range[]): Range[] {
  const out: Range[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Lines naming any of the ids; a rolled file is read only where its index says the ids are. */
async function linesWithIds(
  files: string[],
  wanted: { key: IdKey; ids: Iterable<number> }[],
  indexes: Map<string, IdIndex | undefined>,
  keep: (line: string) => boolean = () => true,
): Promise<string[]> {
  const pairs = wanted.flatMap(({ key, ids }) => [...new Set(ids)].map((id) => ({ key, id })));
  const lines: string[] = [];
  if (pairs.length === 0) return lines;
  const needles = pairs.map(({ key, id }) => Buffer.from(`${key} ${id}`));
  for (const file of files) {
    let ranges: Range[] | undefined;
    if (file.endsWith('.s')) {
      if (!indexes.has(file)) indexes.set(file, await IdIndex.forFile(file).catch(() => undefined));
      const index = indexes.get(file);
      if (index) {
        const found: Range[] = [];
        for (const { key, id } of pairs) {
          const range = await index.range(key, id);
          if (range) found.push(range);
        }
        ranges = merged(found);
        if (ranges.length === 0) continue;
      }
    }
    await scanFile(
      file,
      needles,
      wholeId,
      (line) => {
        if (keep(line)) lines.push(line);
      },
      ranges,
    );
  }
  return lines;
}

async function midsOfLines(files: string[], needle: string, accept: (line: Buffer, needle: Buffer, at: number) => boolean): Promise<Set<number>> {
  const mids = new Set<number>();
  for (const file of files) {
    await scanFile(file, [Buffer.from(needle)], accept, (line) => {
      for (const mid of idsIn([line], 'MID')) mids.add(mid);
    });
  }
  return mids;
}

/** A line whose event is one of `names` with `field` accepted by `wanted`; parsed by the mail log's own grammar. */
function eventWith(names: MailEventName[], field: string, wanted: (value: string) => boolean): (line: Buffer) => boolean {
  return (line) => {
    const event = parseMailEvent(textOfLogLine(line.toString('utf8')));
    return event !== undefined && names.includes(event.name) && wanted(String(event.fields[field]));
  };
}

/** The MIDs a query names; a MID query names itself. */
async function midsFor(files: string[], query: FindQuery): Promise<Set<number>> {
  if (query.mid !== undefined) return new Set([query.mid]);
  let result: Set<number> | undefined;
  const narrow = (mids: Set<number>) => {
    result = result ? new Set([...result].filter((m) => mids.has(m))) : mids;
  };
  const sameAddress = (address: string) => (value: string) => value.toLowerCase() === address.trim().toLowerCase();
  if (query.sender) narrow(await midsOfLines(files, ' From: <', eventWith(['message.from'], 'address', sameAddress(query.sender))));
  if (query.recipient) narrow(await midsOfLines(files, ' To: <', eventWith(['message.to', 'message.to-rejected'], 'address', sameAddress(query.recipient))));
  const subject = query.subject;
  // The subject is written as a JSON string: search for its escaped form, then check the parsed value.
  if (subject)
    narrow(
      await midsOfLines(
        files,
        JSON.stringify(subject).slice(1, -1),
        eventWith(['message.subject'], 'subject', (value) => value.includes(subject)),
      ),
    );
  return result ?? new Set();
}

/** Every line of the messages the query finds, in log order. */
export async function findEvents(dir: string, name: string, query: FindQuery): Promise<string[]> {
  IdIndex.sweep(dir);
  const files = logFiles(dir, name);
  const mids = await midsFor(files, query);
  const indexes = new Map<string, IdIndex | undefined>();
  try {
    return await linesOf(files, mids, indexes);
  } finally {
    for (const index of indexes.values()) await index?.close();
  }
}

async function linesOf(files: string[], mids: Set<number>, indexes: Map<string, IdIndex | undefined>): Promise<string[]> {
  const lines = await linesWithIds(files, [{ key: 'MID', ids: mids }], indexes);
  const icids = [...idsIn(lines, 'ICID')].filter((id) => id !== 0);
  const dcids = [...idsIn(lines, 'DCID')].filter((id) => id !== 0);
  if (icids.length + dcids.length === 0) return lines;
  // Connection lines name no MID; a line that names only other messages of the same connection is not ours.
  const ours = (line: string) => {
    const named = idsIn([line], 'MID');
    return named.size === 0 || [...named].some((m) => mids.has(m));
  };
  return linesWithIds(
    files,
    [
      { key: 'MID', ids: mids },
      { key: 'ICID', ids: icids },
      { key: 'DCID', ids: dcids },
    ],
    indexes,
    ours,
  );
}
