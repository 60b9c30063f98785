// The authserv-id of an Authentication-Results field (RFC 8601 2.2), read by
// the grammar rather than by a pattern: [CFWS] value [CFWS [version]] ";" …,
// where value is a token or a quoted-string (RFC 2045) and comments nest.
// Fields that claim our authserv-id are forged (RFC 8601 5: a border MTA MUST
// remove them); so are fields we cannot read an authserv-id from at all: a
// more lenient reader downstream might read ours in them.

const TSPECIALS = new Set([...'()<>@,;:\\"/[]?=']);
const isWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isTokenChar = (c: string) => c > ' ' && c < '\x7f' && !TSPECIALS.has(c);

/** Skips whitespace and (nested) comments from `at`; -1 when a comment never ends. */
function skipCfws(text: string, at: number): number {
  let i = at;
  while (i < text.length) {
    const c = text[i] as string;
    if (isWhitespace(c)) {
      i++;
      continue;
    }
    if (c !== '(') break;
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text[i];
      if (d === '\\') i++;
      else if (d === '(') depth++;
      else if (d === ')' && --depth === 0) break;
    }
    if (depth !== 0) return -1;
    i++;
  }
  return i;
}

/** The authserv-id, lower-cased without a final dot; undefined when the field does not start with one. */
export function authservIdOf(value: string): string | undefined {
  let i = skipCfws(value, 0);
  if (i < 0 || i >= value.length) return undefined;
  let id = '';
  if (value[i] === '"') {
    for (i++; ; i++) {
      if (i >= value.length) return undefined;
      const c = value[i] as string;
      if (c === '"') break;
      if (c === '\\') {
        i++;
        if (i >= value.length) return undefined;
      }
      id += value[i];
    }
    i++;
  } else {
    while (i < value.length && isTokenChar(value[i] as string)) id += value[i++];
  }
  if (id === '') return undefined;
  // What may follow: CFWS, an optional version number, then ";" (or the end for a bare id).
  const after = skipCfws(value, i);
  if (after < 0) return undefined;
  let j = after;
  if (j > i && /\d/.test(value[j] ?? '')) {
    while (/\d/.test(value[j] ?? '')) j++;
    j = skipCfws(value, j);
    if (j < 0) return undefined;
  }
  if (j < value.length && value[j] !== ';') return undefined;
  return normalized(id);
}

const normalized = (id: string) => id.toLowerCase().replace(/\.$/, '');

/** Whether a received Authentication-Results value must go: it claims `ours`, or it has no readable authserv-id. */
export function claimsAuthservId(value: string, ours: string): boolean {
  const id = authservIdOf(value);
  return id === undefined || id === normalized(ours);
}
