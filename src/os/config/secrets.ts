// Which values of a configuration are secrets, read from the schema (the fields
// marked with `secret(…)` in schema.ts), and the one way they are masked wherever
// configuration is shown: showconfig, diff, show, history's comments, saveconfig.
// Masking is for everyone, admins included: a secret is typed in, never read back.
import { isDeepStrictEqual } from 'node:util';
import { applianceConfigSchema, secretFields } from './schema.js';

export type ConfigPath = (string | number)[];

/** What a masked secret looks like when shown. */
export const maskedValue = '*****';

interface SchemaNode {
  _zod: { def: Record<string, unknown> & { type: string } };
  shape?: Record<string, SchemaNode>;
}

const wrappers = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** Walks `value` along `schema`, calling `found` with the path of every secret field present in it. */
function walk(schema: SchemaNode, value: unknown, path: ConfigPath, found: (path: ConfigPath) => void): void {
  let s = schema;
  for (;;) {
    if (secretFields.has(s as never)) {
      if (value !== undefined) found(path);
      return;
    }
    if (s._zod.def.type === 'pipe') s = s._zod.def.in as SchemaNode;
    else if (wrappers.has(s._zod.def.type)) s = s._zod.def.innerType as SchemaNode;
    else break;
  }
  if (value === null || typeof value !== 'object') return;
  switch (s._zod.def.type) {
    case 'object':
      for (const [key, child] of Object.entries(s.shape ?? {})) {
        if (key in (value as object)) walk(child, (value as Record<string, unknown>)[key], [...path, key], found);
      }
      return;
    case 'array':
      if (Array.isArray(value)) for (const [i, item] of value.entries()) walk(s._zod.def.element as SchemaNode, item, [...path, i], found);
      return;
    case 'union': {
      // Every option is walked: a field that is secret in any of them is masked (masking too much is safe).
      const seen = new Set<string>();
      for (const option of s._zod.def.options as SchemaNode[]) {
        walk(option, value, path, (p) => {
          const key = JSON.stringify(p);
          if (!seen.has(key)) found(p);
          seen.add(key);
        });
      }
      return;
    }
    default:
      return;
  }
}

/** The paths of the secret values in a configuration (or a part of one, given the path it sits at). */
export function secretPaths(config: unknown): ConfigPath[] {
  const paths: ConfigPath[] = [];
  walk(applianceConfigSchema as unknown as SchemaNode, config, [], (p) => paths.push(p));
  return paths;
}

export function valueAt(root: unknown, path: ConfigPath): unknown {
  let value = root;
  for (const step of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[step];
  }
  return value;
}

export function setValueAt(root: unknown, path: ConfigPath, value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = value;
}

/**
 * A copy of `config` with every secret masked. An empty secret stays empty (so
 * "not set" shows). Given `previous` (the other side of a diff), a secret that
 * differs from it reads "***** (changed)", so a diff still tells that it changed.
 */
export function maskSecrets<T>(config: T, previous?: unknown): T {
  const copy = structuredClone(config);
  for (const path of secretPaths(config)) {
    const value = valueAt(config, path);
    if (value === '' || value === undefined) continue;
    const changed = previous !== undefined && !isDeepStrictEqual(valueAt(previous, path), value);
    setValueAt(copy, path, changed ? `${maskedValue} (changed)` : maskedValue);
  }
  return copy;
}

/** The names of every secret field in the schema (bindPassword, passwordHash, …). */
function secretFieldNames(): Set<string> {
  const names = new Set<string>();
  const visit = (schema: SchemaNode, key: string | undefined, depth: number): void => {
    if (depth > 20) return;
    let s = schema;
    for (;;) {
      if (secretFields.has(s as never)) {
        if (key) names.add(key);
        return;
      }
      if (s._zod.def.type === 'pipe') s = s._zod.def.in as SchemaNode;
      else if (wrappers.has(s._zod.def.type)) s = s._zod.def.innerType as SchemaNode;
      else break;
    }
    if (s._zod.def.type === 'object') for (const [k, child] of Object.entries(s.shape ?? {})) visit(child, k, depth + 1);
    else if (s._zod.def.type === 'array') visit(s._zod.def.element as SchemaNode, key, depth + 1);
    else if (s._zod.def.type === 'union') for (const option of s._zod.def.options as SchemaNode[]) visit(option, key, depth + 1);
  };
  visit(applianceConfigSchema as unknown as SchemaNode, undefined, 0);
  return names;
}

export const secretNames: ReadonlySet<string> = secretFieldNames();

/** A word that looks like a secret's name, for `key=value` words and names the schema does not know yet. */
const secretLikeName = /password|passwd|secret|passphrase|^pin$|credential/i;

/** Masks the value of every `key=value` whose key is a secret (commit comments, the audit log's command lines). */
export function maskSecretWords(text: string): string {
  return text.replace(/([A-Za-z_][A-Za-z0-9_.-]*)=(\S+)/g, (whole, key: string) => {
    const last = key.split('.').pop() ?? key;
    return secretNames.has(last) || secretLikeName.test(last) ? `${key}=${maskedValue}` : whole;
  });
}
