// Reads the configuration schema to turn `key=value` words (the console's, a web form's)
// into typed values: yes/no for booleans, numbers, comma-separated lists, and
// "default" to clear a field that may use its default.
import type { z } from 'zod';
import { applianceConfigSchema, secretFields } from '../os/config/schema.js';
import { maskedValue } from '../os/config/secrets.js';
import { AdminError } from './errors.js';

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
      throw new AdminError(`${key} must be yes or no, not "${text}"`);
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new AdminError(`${key} must be a number, not "${text}"`);
      return n;
    }
    case 'array':
      return text === '' ? [] : text.split(',').map((part) => coerce(s._zod.def.element as AnySchema, part.trim(), key));
    case 'object':
      throw new AdminError(`${key} is a group of settings; use the command's sub-command for it`);
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
    if (at < 1) throw new AdminError(notASetting(words, index, Object.keys(shape)));
    const key = word.slice(0, at);
    const text = word.slice(at + 1);
    const field = shape[key];
    if (!field) throw new AdminError(`there is no setting "${key}" here; settings: ${Object.keys(shape).join(', ')}`);
    if (key === 'name' || key === 'type') throw new AdminError(`${key} cannot be changed here${key === 'name' ? '; use rename' : ''}`);
    const parse = parsers[key];
    if (parse && text !== 'default') {
      target[key] = parse(text);
    } else if (text === 'default') {
      if (!['optional', 'default'].includes(field._zod.def.type)) throw new AdminError(`${key} has no default; give a value (${describe(field)})`);
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

/** One field of a settings item as a form (or `fields`) shows it. */
export interface FieldInfo {
  key: string;
  type: 'boolean' | 'number' | 'enum' | 'list' | 'text' | 'secret' | 'group' | 'object-list';
  options?: string[];
  required: boolean;
  hasDefault: boolean;
  description?: string;
  /** How to write a value as text: "yes or no", "one of a, b", "a comma-separated list of text". */
  help: string;
  /** The current value; a secret that is set reads "*****". */
  value?: unknown;
}

function isSecret(schema: AnySchema): boolean {
  let s = schema;
  for (;;) {
    if (secretFields.has(s as never)) return true;
    if (!['optional', 'default', 'prefault', 'nullable', 'readonly', 'pipe'].includes(s._zod.def.type)) return false;
    s = (s._zod.def.type === 'pipe' ? s._zod.def.in : s._zod.def.innerType) as AnySchema;
  }
}

function fieldType(schema: AnySchema): Pick<FieldInfo, 'type' | 'options'> {
  if (isSecret(schema)) return { type: 'secret' };
  const s = unwrap(schema);
  switch (s._zod.def.type) {
    case 'boolean':
      return { type: 'boolean' };
    case 'number':
      return { type: 'number' };
    case 'enum':
      return { type: 'enum', options: Object.values(s._zod.def.entries as Record<string, string>) };
    case 'literal':
      return { type: 'enum', options: (s._zod.def.values as unknown[]).map(String) };
    case 'array':
      return unwrap(s._zod.def.element as AnySchema)._zod.def.type === 'object' ? { type: 'object-list' } : { type: 'list' };
    case 'object':
      return { type: 'group' };
    default:
      return { type: 'text' };
  }
}

/** The fields of an object schema, with the current values of `item` (secrets masked) when given. */
export function fieldInfo(objectSchema: AnySchema, item?: Record<string, unknown>): FieldInfo[] {
  return Object.entries(objectSchema.shape ?? {}).map(([key, field]) => {
    const { type, options } = fieldType(field);
    const description = field.description ?? unwrap(field).description;
    const hasDefault = ['optional', 'default', 'prefault'].includes(field._zod.def.type);
    const current = item?.[key];
    const value = type === 'secret' && typeof current === 'string' && current !== '' ? maskedValue : current;
    return {
      key,
      type,
      ...(options ? { options } : {}),
      required: !hasDefault,
      hasDefault,
      ...(description ? { description } : {}),
      help: describe(field),
      ...(current === undefined ? {} : { value }),
    };
  });
}
