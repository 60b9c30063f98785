// The verbs every named list of settings shares at the console:
//   COMMAND list | show NAME | new NAME key=value… | edit NAME key=value… | rename OLD NEW | delete NAME
// An edit is checked against the whole configuration at once and refused, with
// the path and reason, if it would make it invalid; renames and deletes go
// through the reference table, so nothing is left pointing at a missing name.

import { deleteObject, type ReferenceKindName, renameObject } from '../os/config/references.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import { maskSecrets } from '../os/config/secrets.js';
import { parseConfig } from '../os/config/validate.js';
import type { ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';
import { applyAssignments, type FieldParsers, fieldHelp, missingRequired, objectSchemaAt } from './schema-fields.js';

type Item = Record<string, unknown>;

export interface CollectionSpec {
  /** What one item is called, e.g. "listener". */
  label: string;
  /** The field that names an item. */
  key?: string;
  /** Where the list is in the configuration; `scope` is the parent's name for nested lists. */
  path(config: ApplianceConfig, scope: string | undefined): (string | number)[];
  /** The reference kind, for rename and delete; without one, rename and delete act on the list alone. */
  kind?: ReferenceKindName;
  /** The fields of a new item before the user's key=value words. */
  template?(name: string, config: ApplianceConfig, scope: string | undefined, variant: string | undefined): Item;
  /** Parsers for fields typed as text that are not plain values (a schedule, a host list). */
  parsers?: FieldParsers;
  /** Words after NAME for `new` that select a variant (e.g. the type of an LDAP query). */
  variant?: string;
  /** Whether the list is nested under a named parent (listener policies, sender groups). */
  scoped?: boolean;
  /** What to tell the user once a new item is added (what it does not do yet). */
  afterNew?(name: string, item: Item, ctx: ConsoleContext): void;
}

function listAt(config: ApplianceConfig, path: (string | number)[]): Item[] {
  let value: unknown = config;
  for (const step of path) value = (value as Record<string | number, unknown>)[step];
  if (!Array.isArray(value)) throw new Error(`no list at ${path.join('.')}`);
  return value as Item[];
}

function scopeIndex(config: ApplianceConfig, scope: string): number {
  const index = config.listeners.findIndex((l) => l.name === scope);
  if (index < 0) throw new UsageError(`there is no listener named "${scope}"`);
  return index;
}

export const inListener = (rest: (string | number)[]) => (config: ApplianceConfig, scope: string | undefined) => ['listeners', scopeIndex(config, scope ?? ''), ...rest];

/** Applies a change to a copy of the candidate, validates the whole result, and keeps it only if valid. */
export function editCandidate(ctx: ConsoleContext, change: (draft: ApplianceConfig) => void): void {
  ctx.candidate.edit((draft) => {
    change(draft);
    Object.assign(draft, parseConfig(draft, 'the change was not made'));
  });
}

export function collectionCommand(spec: CollectionSpec) {
  const key = spec.key ?? 'name';
  const usage = `${spec.scoped ? 'PARENT ' : ''}list | show NAME | new NAME${spec.variant ? ` ${spec.variant.toUpperCase()}` : ''} key=value… | edit NAME key=value… | rename OLD NEW | delete NAME | fields [NAME${spec.variant ? ` | ${spec.variant.toUpperCase()}` : ''}]`;
  const find = (items: Item[], name: string | undefined) => {
    const item = items.find((i) => i[key] === name);
    if (!item) throw new UsageError(`there is no ${spec.label} "${name ?? ''}"; see "list"`);
    return item;
  };
  /** Adds a new item to `draft` as `new NAME [VARIANT] words…` makes it; returns it and its schema (also for `fields` before it exists). */
  const addNew = (draft: ApplianceConfig, scope: string | undefined, name: string, variant: string | undefined, words: string[]) => {
    const item: Item = { ...(spec.template?.(name, draft, scope, variant) ?? {}), [key]: name, ...(variant ? { [spec.variant!]: variant } : {}) };
    const list = listAt(draft, spec.path(draft, scope));
    list.push(item);
    const schema = objectSchemaAt([...spec.path(draft, scope), list.length - 1], draft);
    applyAssignments(item, schema, words, spec.parsers);
    return { item, schema };
  };
  const newItemFields = (config: ApplianceConfig, scope: string | undefined, variant: string | undefined) => {
    const { item, schema } = addNew(structuredClone(config), scope, 'NEW', variant, []);
    const required = missingRequired(schema, item).map((f) => f.key);
    const shown = fieldHelp(schema)
      .split('\n')
      .filter((line) => !line.startsWith(`  ${key}:`));
    return `Keys of a new ${spec.label}${variant ? ` of ${spec.variant} ${variant}` : ''}${required.length ? ` (required: ${required.join(', ')})` : ''}:\n${shown.join('\n')}`;
  };
  return {
    usage,
    /** For `help`: the keys `new` takes (scoped lists need a parent, so they show none). */
    details: (config: ApplianceConfig) => (spec.scoped ? undefined : newItemFields(config, undefined, undefined)),
    async run(args: string[], ctx: ConsoleContext): Promise<void> {
      const scope = spec.scoped ? args.shift() : undefined;
      if (spec.scoped && !scope) throw new UsageError(`name the listener first: ${usage}`);
      const [verb = 'list', name, ...rest] = args;
      const path = spec.path(ctx.candidate.config, scope);
      const items = listAt(ctx.candidate.config, path);
      switch (verb) {
        case 'list':
          ctx.print(items.length ? items.map((i) => `  ${String(i[key])}${i.type ? ` (${String(i.type)})` : ''}`).join('\n') : `  no ${spec.label}s`);
          return;
        case 'show':
          ctx.print(JSON.stringify(find(listAt(maskSecrets(ctx.candidate.config), path), name), null, 2));
          return;
        case 'fields': {
          const existing = items.find((i) => i[key] === name);
          if (existing) ctx.print(fieldHelp(objectSchemaAt([...path, items.indexOf(existing)], ctx.candidate.config)));
          else if (!name || spec.variant) ctx.print(newItemFields(ctx.candidate.config, scope, name));
          else find(items, name);
          return;
        }
        case 'new': {
          if (!name) throw new UsageError(`name the new ${spec.label}`);
          if (items.some((i) => i[key] === name)) throw new UsageError(`a ${spec.label} "${name}" already exists; use edit`);
          const words = [...rest];
          const variant = spec.variant && words[0] && !words[0].includes('=') ? words.shift() : undefined;
          // Ask for what the schema requires and the command line did not give: at a terminal
          // only; piped input fails naming every missing key.
          const trial = addNew(structuredClone(ctx.candidate.config), scope, name, variant, words);
          const missing = missingRequired(trial.schema, trial.item);
          if (missing.length && !ctx.interactive) {
            throw new UsageError(`a new ${spec.label} needs ${missing.map((f) => `${f.key}=… (${f.help})`).join(', ')}; nothing was added`);
          }
          for (const field of missing) words.push(`${field.key}=${await ctx.ask(`${spec.label} ${name}: ${field.key} (${field.help})`)}`);
          editCandidate(ctx, (draft) => {
            addNew(draft, scope, name, variant, words);
          });
          ctx.print(`New ${spec.label} "${name}" added (pending until commit).`);
          const added = listAt(ctx.candidate.config, spec.path(ctx.candidate.config, scope)).find((i) => i[key] === name);
          if (added) spec.afterNew?.(name, added, ctx);
          return;
        }
        case 'edit': {
          find(items, name);
          if (rest.length === 0) throw new UsageError(`give settings as key=value; see "fields ${name}"`);
          editCandidate(ctx, (draft) => {
            const list = listAt(draft, path);
            const index = list.findIndex((i) => i[key] === name);
            applyAssignments(list[index]!, objectSchemaAt([...path, index], draft), rest, spec.parsers);
          });
          ctx.print(`${spec.label} "${name}" changed (pending until commit).`);
          return;
        }
        case 'rename': {
          const to = rest[0];
          if (!name || !to) throw new UsageError(`usage: rename OLD NEW`);
          let updated: string[] = [];
          editCandidate(ctx, (draft) => {
            if (spec.kind) updated = renameObject(draft, spec.kind, name, to, scope);
            else find(listAt(draft, path), name)[key] = to;
          });
          ctx.print(`Renamed ${spec.label} "${name}" to "${to}"${updated.length ? `; updated ${updated.join(', ')}` : ''}.`);
          return;
        }
        case 'delete':
          editCandidate(ctx, (draft) => {
            if (spec.kind) deleteObject(draft, spec.kind, name ?? '', scope);
            else {
              const list = listAt(draft, path);
              list.splice(list.indexOf(find(list, name)), 1);
            }
          });
          ctx.print(`Deleted ${spec.label} "${name}" (pending until commit).`);
          return;
        default:
          throw new UsageError(`unknown action "${verb}"; use ${usage}`);
      }
    },
  };
}

/** `COMMAND show | edit key=value…` for one group of settings that is not a list (system, crl, alerts). */
export function settingsCommand(section: keyof ApplianceConfig, parsers?: FieldParsers) {
  return {
    usage: 'show | edit key=value… | fields',
    async run(args: string[], ctx: ConsoleContext): Promise<void> {
      const [verb = 'show', ...rest] = args;
      if (verb === 'show')
        ctx.print(
          JSON.stringify(
            maskSecrets(ctx.candidate.config)[section],
            (_key, v) => (Array.isArray(v) && typeof v[0] === 'object' ? `[${v.length} item(s): see its own command]` : v),
            2,
          ),
        );
      else if (verb === 'fields') ctx.print(fieldHelp(objectSchemaAt([section], ctx.candidate.config)));
      else if (verb === 'edit') {
        if (rest.length === 0) throw new UsageError('give settings as key=value; see "fields"');
        editCandidate(ctx, (draft) => {
          applyAssignments(draft[section] as unknown as Item, objectSchemaAt([section], draft), rest, parsers);
        });
        ctx.print(`${String(section)} settings changed (pending until commit).`);
      } else throw new UsageError(`unknown action "${verb}"; use show, edit key=value… or fields`);
    },
  };
}
