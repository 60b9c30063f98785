// The verbs every named list of settings shares at the console:
//   COMMAND list | show NAME | new NAME key=value… | edit NAME key=value… | rename OLD NEW | delete NAME
// Words become calls of src/admin/settings.ts (which checks each edit against the whole
// configuration, and renames and deletes through the reference table); the results
// are printed here in the console's words.
import type { FieldInfo } from '../admin/schema-fields.js';
import {
  type AreaId,
  deleteItem,
  editGroup,
  editItem,
  type GroupId,
  groupFields,
  groupSettings,
  itemFields,
  listItems,
  missingForNew,
  newItem,
  newItemFields,
  renameItem,
  settingsAreas,
  showItem,
} from '../admin/settings.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import { actorOf, type ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

/** The `fields` lines: each key, how to write it, and its meaning where the schema gives one. */
export function fieldLines(fields: FieldInfo[]): string {
  return fields.map((f) => `  ${f.key}: ${f.help}${f.hasDefault ? ' (or "default")' : ''}${f.description ? ` - ${f.description}` : ''}`).join('\n');
}

export function collectionCommand(areaId: AreaId) {
  const area = settingsAreas[areaId];
  const variantWord = area.variant?.toUpperCase();
  const usage = `${area.scoped ? 'PARENT ' : ''}list | show NAME | new NAME${variantWord ? ` ${variantWord}` : ''} key=value… | edit NAME key=value… | rename OLD NEW | delete NAME | fields [NAME${variantWord ? ` | ${variantWord}` : ''}]`;
  const newItemText = (fields: FieldInfo[], variant: string | undefined) => {
    const required = fields.filter((f) => f.required && f.value === undefined).map((f) => f.key);
    return `Keys of a new ${area.label}${variant ? ` of ${area.variant} ${variant}` : ''}${required.length ? ` (required: ${required.join(', ')})` : ''}:\n${fieldLines(fields)}`;
  };
  return {
    usage,
    /** For `help`: the keys `new` takes (scoped lists need a parent, so they show none). */
    details: (config: ApplianceConfig) => (area.scoped ? undefined : newItemText(newItemFields(config, areaId), undefined)),
    async run(args: string[], ctx: ConsoleContext): Promise<void> {
      const scope = area.scoped ? args.shift() : undefined;
      if (area.scoped && !scope) throw new UsageError(`name the listener first: ${usage}`);
      const [verb = 'list', name, ...rest] = args;
      const actor = actorOf(ctx);
      const items = listItems(ctx.runtime, actor, areaId, scope);
      switch (verb) {
        case 'list':
          ctx.print(items.length ? items.map((i) => `  ${i.key}${i.type ? ` (${i.type})` : ''}`).join('\n') : `  no ${area.label}s`);
          return;
        case 'show':
          ctx.print(JSON.stringify(showItem(ctx.runtime, actor, areaId, name ?? '', scope), null, 2));
          return;
        case 'fields': {
          const existing = items.some((i) => i.key === name);
          if (existing) ctx.print(fieldLines(itemFields(ctx.runtime, actor, areaId, { name: name!, ...(scope ? { scope } : {}) })));
          else if (!name || area.variant) {
            ctx.print(newItemText(itemFields(ctx.runtime, actor, areaId, { ...(scope ? { scope } : {}), ...(name ? { variant: name } : {}) }), name));
          } else showItem(ctx.runtime, actor, areaId, name, scope);
          return;
        }
        case 'new': {
          if (!name) throw new UsageError(`name the new ${area.label}`);
          if (items.some((i) => i.key === name)) throw new UsageError(`a ${area.label} "${name}" already exists; use edit`);
          const words = [...rest];
          const variant = area.variant && words[0] && !words[0].includes('=') ? words.shift() : undefined;
          const options = { ...(scope ? { scope } : {}), ...(variant ? { variant } : {}) };
          // Ask for what the schema requires and the command line did not give: at a terminal
          // only; piped input fails naming every missing key (newItem says which).
          if (ctx.interactive) {
            for (const field of missingForNew(ctx.runtime, actor, areaId, name, words, options)) {
              words.push(`${field.key}=${await ctx.ask(`${area.label} ${name}: ${field.key} (${field.help})`)}`);
            }
          }
          const { notice } = newItem(ctx.runtime, actorOf(ctx), areaId, name, words, options);
          ctx.print(`New ${area.label} "${name}" added (pending until commit).`);
          if (notice) ctx.print(notice);
          return;
        }
        case 'edit': {
          showItem(ctx.runtime, actor, areaId, name ?? '', scope);
          if (rest.length === 0) throw new UsageError(`give settings as key=value; see "fields ${name}"`);
          editItem(ctx.runtime, actor, areaId, name!, rest, scope);
          ctx.print(`${area.label} "${name}" changed (pending until commit).`);
          return;
        }
        case 'rename': {
          const to = rest[0];
          if (!name || !to) throw new UsageError(`usage: rename OLD NEW`);
          const updated = renameItem(ctx.runtime, actor, areaId, name, to, scope);
          ctx.print(`Renamed ${area.label} "${name}" to "${to}"${updated.length ? `; updated ${updated.join(', ')}` : ''}.`);
          return;
        }
        case 'delete':
          deleteItem(ctx.runtime, actor, areaId, name ?? '', scope);
          ctx.print(`Deleted ${area.label} "${name}" (pending until commit).`);
          return;
        default:
          throw new UsageError(`unknown action "${verb}"; use ${usage}`);
      }
    },
  };
}

/** `COMMAND show | edit key=value… | fields` for one group of settings that is not a list (system, crl, alerts). */
export function settingsCommand(groupId: GroupId) {
  return {
    usage: 'show | edit key=value… | fields',
    async run(args: string[], ctx: ConsoleContext): Promise<void> {
      const [verb = 'show', ...rest] = args;
      const actor = actorOf(ctx);
      if (verb === 'show')
        ctx.print(
          JSON.stringify(
            groupSettings(ctx.runtime, actor, groupId),
            (_key, v) => (Array.isArray(v) && typeof v[0] === 'object' ? `[${v.length} item(s): see its own command]` : v),
            2,
          ),
        );
      else if (verb === 'fields') ctx.print(fieldLines(groupFields(ctx.runtime, actor, groupId)));
      else if (verb === 'edit') {
        if (rest.length === 0) throw new UsageError('give settings as key=value; see "fields"');
        editGroup(ctx.runtime, actor, groupId, rest);
        ctx.print(`${groupId} settings changed (pending until commit).`);
      } else throw new UsageError(`unknown action "${verb}"; use show, edit key=value… or fields`);
    },
  };
}
