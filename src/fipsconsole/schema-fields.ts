// Reads the configuration schema to turn `key=value` words typed at the console
// into typed values: yes/no for booleans, numbers, comma-separated lists, and
// "default" to clear a field that may use its default.
import type { z } from 'zod';
import { applianceConfigSchema } from '../os/config/schema.js';
import { UsageError } from './errors.js';

type AnySchema = z.ZodType & { _zod: { def: Record<string, unknown> & { type: string } }; shape?: Record<string, AnySchema> };

function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  while (['optional', 'default', 'prefault', 'nullable', 'readonly'].includes(s._zod.def.type)) s = s._zod.def.innerType as AnySchema;
  return s;
}

/** The schema of the object found at `path` (object keys and array indexes) in `config`. */
export function objectSchemaAt(path: (string | number)[], config: unknown): AnySchema {
  let schema = unwrap(applianceConfigSchema as unknown as AnySchema);
  let value: unknown = config;
  for (const step of path) {
    if (typeof step === 'number') {
      schema = unwrap(schema._zod.def.element as AnySchema);
      value = (value as unknown[])[step];
    } else {
      const shape = schema.shape;
      if (!shape?.[step]) throw new Error(`no field ${step} in the schema`);
      schema = unwrap(shape[step]);
      value = (value as Record<string, unknown>)[step];
    }
    if (schema._zod.def.type === 'union' && schema._zod.def.discriminator) {
      const key = schema._zod.def.discriminator as string;
      const options = schema._zod.def.options as AnySchema[];
      const wanted = (value as Record<string, unknown> | undefined)?.[key];
      schema = options.find((o) => unwrap(o).shape?.[key]?._zod.def.values?.toString() === String(wanted)) ?? options[0]!;
      schema = unwrap(schema);
    }
  }
  return schema;
}

export function fieldNames(objectSchema: AnySchema): string[] {
  return Object.keys(objectSchema.shape ?? {});
}

function describe(schema: AnySchema): string {
  const s = unwrap(schema);
  switch (s._zod.def.type) {
    case 'boolean':
      return 'yes or no';
    case 'number':
      return 'a number';
    case 'enum':
      return `one of ${Object.values(s._zod.def.entries as Record<string, string>).join(', ')}`;
    case 'array':
      return `a comma-separated list of ${describe(s._zod.def.element as AnySchema)}`;
    case 'literal':
      return String((s._zod.def.values as unknown[])[0]);
    default:
      return 'text';
  }
}

function coerce(schema: AnySchema, text: string, key: string): unknown {
  const s = unwrap(schema);
  switch (s._zod.def.type) {
    case 'boolean':
      if (/^(yes|y|true|on)$/i.test(text)) return true;
      if (/^(no|n|false|off)$/i.test(text)) return false;
      throw new UsageError(`${key} must be yes or no, not "${text}"`);
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${key} must be a number, not "${text}"`);
      return n;
    }
    case 'array':
      return text === '' ? [] : text.split(',').map((part) => coerce(s._zod.def.element as AnySchema, part.trim(), key));
    case 'object':
      throw new UsageError(`${key} is a group of settings; use the command's sub-command for it`);
    default:
      return text;
  }
}

/** Field-specific parsers for values the schema cannot type from text alone. */
export type FieldParsers = Record<string, (text: string) => unknown>;

/** Why words[index] is not key=value; when it follows one, it was most likely a value with spaces that lost its quotes. */
function notASetting(words: string[], index: number, keys: string[]): string {
  const previous = index > 0 ? words[index - 1]! : '';
  const at = previous.indexOf('=');
  if (at < 1) return `"${words[index]}" is not a setting; write key=value (keys: ${keys.join(', ')})`;
  let end = index;
  while (end < words.length && words[end]!.indexOf('=') < 1) end++;
  const value = [previous.slice(at + 1), ...words.slice(index, end)].join(' ');
  return `"${words[index]}" is not a setting; a value with spaces needs quotes around it: ${previous.slice(0, at)}="${value}"`;
}

/** Applies `key=value` words to `target`, typed by `objectSchema`. */
export function applyAssignments(target: Record<string, unknown>, objectSchema: AnySchema, words: string[], parsers: FieldParsers = {}): string[] {
  const changed: string[] = [];
  const shape = objectSchema.shape ?? {};
  for (const [index, word] of words.entries()) {
    const at = word.indexOf('=');
    if (at < 1) throw new UsageError(notASetting(words, index, Object.keys(shape)));
    const key = word.slice(0, at);
    const text = word.slice(at + 1);
    const field = shape[key];
    if (!field) throw new UsageError(`there is no setting "${key}" here; settings: ${Object.keys(shape).join(', ')}`);
    if (key === 'name' || key === 'type') throw new UsageError(`${key} cannot be changed here${key === 'name' ? '; use rename' : ''}`);
    const parse = parsers[key];
    if (parse && text !== 'default') {
      target[key] = parse(text);
    } else if (text === 'default') {
      if (!['optional', 'default'].includes(field._zod.def.type)) throw new UsageError(`${key} has no default; give a value (${describe(field)})`);
      delete target[key];
    } else {
      target[key] = coerce(field, text, key);
    }
    changed.push(key);
  }
  return changed;
}

export function fieldHelp(objectSchema: AnySchema): string {
  return Object.entries(objectSchema.shape ?? {})
    .map(([key, field]) => {
      // A field's meaning, where the schema gives one (.describe), follows its type.
      const meaning = field.description ?? unwrap(field).description;
      return `  ${key}: ${describe(field)}${['optional', 'default'].includes(field._zod.def.type) ? ' (or "default")' : ''}${meaning ? ` - ${meaning}` : ''}`;
    })
    .join('\n');
}

/** Fields the schema requires that `item` does not have yet, with how to write each. */
export function missingRequired(objectSchema: AnySchema, item: Record<string, unknown>): { key: string; help: string }[] {
  return Object.entries(objectSchema.shape ?? {})
    .filter(([key, field]) => item[key] === undefined && !['optional', 'default', 'prefault'].includes(field._zod.def.type))
    .map(([key, field]) => ({ key, help: describe(field) }));
}
