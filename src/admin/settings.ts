// The settings areas' operations, for the console and the web alike: list, show,
// the fields of an item (a form is built from them), new, edit, rename, delete, and
// the single groups of settings (system, crl, alerts). Values come as the console's
// key=value text ('yes'/'no', numbers, comma lists, 'default'), typed by the schema;
// every change lands in the user's pending changes (changes.ts), validated whole.
import { deleteObject, renameObject } from '../os/config/references.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import { maskedValue, maskSecrets } from '../os/config/secrets.js';
import type { Runtime } from '../os/runtime.js';
import { hashPassword, passwordProblems } from '../os/users.js';
import type { Actor } from './actor.js';
import { candidateConfig, editChangesWith } from './changes.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';
import { applyAssignments, type FieldInfo, fieldInfo, missingRequired, objectSchemaAt } from './schema-fields.js';
import { type AreaId, type GroupId, type Item, type SettingsArea, settingsAreas, settingsGroups } from './settings-catalog.js';

export type { FieldInfo } from './schema-fields.js';
export { type AreaId, type GroupId, type SettingsArea, type SettingsGroup, settingsAreas, settingsGroups } from './settings-catalog.js';

/** key=value pairs (a form), or the console's words in the order typed. */
export type SettingValues = Record<string, string> | readonly string[];

export interface ListedItem {
  key: string;
  type?: string;
  /** Secrets masked. */
  item: Record<string, unknown>;
}

function areaOf(id: AreaId): SettingsArea {
  const area = settingsAreas[id];
  if (!area) throw new AdminError(`there is no settings area "${id}"; areas: ${Object.keys(settingsAreas).join(', ')}`, 'not-found');
  return area;
}

function listAt(config: ApplianceConfig, path: (string | number)[]): Item[] {
  let value: unknown = config;
  for (const step of path) value = (value as Record<string | number, unknown>)[step];
  if (!Array.isArray(value)) throw new Error(`no list at ${path.join('.')}`);
  return value as Item[];
}

function checkScope(area: SettingsArea, scope: string | undefined): void {
  if (area.scoped && !scope) throw new AdminError(`name the listener the ${area.label} belongs to`, 'invalid');
}

function find(area: SettingsArea, items: Item[], name: string | undefined): Item {
  const item = items.find((i) => i[area.key] === name);
  if (!item) throw new AdminError(`there is no ${area.label} "${name ?? ''}"; see "list"`, 'not-found');
  return item;
}

function wordsOf(values: SettingValues): string[] {
  return Array.isArray(values) ? [...values] : Object.entries(values as Record<string, string>).map(([key, value]) => `${key}=${value}`);
}

/** In an edit, a secret given as the masked placeholder or left empty keeps the current secret. */
function withoutKeptSecrets(words: string[], fields: FieldInfo[]): string[] {
  const secrets = new Set(fields.filter((f) => f.type === 'secret').map((f) => f.key));
  return words.filter((word) => {
    const at = word.indexOf('=');
    if (at < 1 || !secrets.has(word.slice(0, at))) return true;
    const value = word.slice(at + 1);
    return value !== '' && value !== maskedValue;
  });
}

export function listItems(runtime: Runtime, actor: Actor, areaId: AreaId, scope?: string): ListedItem[] {
  const area = areaOf(areaId);
  checkScope(area, scope);
  const config = maskSecrets(candidateConfig(runtime, actor));
  return listAt(config, area.path(config, scope)).map((item) => ({ key: String(item[area.key]), ...(typeof item.type === 'string' ? { type: item.type } : {}), item }));
}

export function showItem(runtime: Runtime, actor: Actor, areaId: AreaId, name: string, scope?: string): Record<string, unknown> {
  const area = areaOf(areaId);
  checkScope(area, scope);
  const config = maskSecrets(candidateConfig(runtime, actor));
  return find(area, listAt(config, area.path(config, scope)), name);
}

/** A new item added to `draft` as `new NAME [VARIANT] values` makes it; returns it and its schema (also for the fields before it exists). */
function addNew(area: SettingsArea, draft: ApplianceConfig, scope: string | undefined, name: string, variant: string | undefined, words: string[]) {
  if (variant !== undefined && area.variants && !area.variants.includes(variant)) {
    throw new AdminError(`a ${area.label}'s ${area.variant} is one of ${area.variants.join(', ')}, not "${variant}"`, 'invalid');
  }
  const item: Item = { ...(area.template?.(name, draft, scope, variant) ?? {}), [area.key]: name, ...(variant && area.variant ? { [area.variant]: variant } : {}) };
  const list = listAt(draft, area.path(draft, scope));
  list.push(item);
  const schema = objectSchemaAt([...area.path(draft, scope), list.length - 1], draft);
  applyAssignments(item, schema, words, area.parsers);
  return { item, schema };
}

/** The fields of an item: of the one named (with its values, secrets masked), or of a new one of `variant`. */
export function itemFields(runtime: Runtime, actor: Actor, areaId: AreaId, options: { name?: string; scope?: string; variant?: string } = {}): FieldInfo[] {
  const area = areaOf(areaId);
  checkScope(area, options.scope);
  const config = candidateConfig(runtime, actor);
  const path = area.path(config, options.scope);
  const items = listAt(config, path);
  const existing = options.name === undefined ? undefined : items.find((i) => i[area.key] === options.name);
  if (existing) return fieldInfo(objectSchemaAt([...path, items.indexOf(existing)], config), existing);
  return newItemFields(config, areaId, options);
}

/** The fields of a new item of `variant` (its template's values filled in), from the schema alone: also for help, which has no session. */
export function newItemFields(config: ApplianceConfig, areaId: AreaId, options: { scope?: string; variant?: string } = {}): FieldInfo[] {
  const area = areaOf(areaId);
  const { item, schema } = addNew(area, structuredClone(config), options.scope, 'NEW', options.variant, []);
  return fieldInfo(schema, item).filter((f) => f.key !== area.key);
}

/** What a new item still needs that `values` does not give, with how to write each. */
export function missingForNew(
  runtime: Runtime,
  actor: Actor,
  areaId: AreaId,
  name: string,
  values: SettingValues,
  options: { scope?: string; variant?: string } = {},
): { key: string; help: string }[] {
  const area = areaOf(areaId);
  const trial = addNew(area, structuredClone(candidateConfig(runtime, actor)), options.scope, name, options.variant, wordsOf(values));
  return missingRequired(trial.schema, trial.item);
}

export function newItem(
  runtime: Runtime,
  actor: Actor,
  areaId: AreaId,
  name: string,
  values: SettingValues,
  options: { scope?: string; variant?: string } = {},
): { notice?: string } {
  authorize(actor, 'edit');
  const area = areaOf(areaId);
  checkScope(area, options.scope);
  if (!name) throw new AdminError(`name the new ${area.label}`, 'invalid');
  if (areaId === 'users' && wordsOf(values).some((w) => w.startsWith('passwordHash='))) throw new AdminError('set a password with the password, not its hash', 'invalid');
  return editChangesWith(runtime, actor, (draft) => {
    const items = listAt(draft, area.path(draft, options.scope));
    if (items.some((i) => i[area.key] === name)) throw new AdminError(`a ${area.label} "${name}" already exists; use edit`, 'conflict');
    const { item, schema } = addNew(
      area,
      draft,
      options.scope,
      name,
      options.variant,
      wordsOf(values).filter((w) => w.slice(w.indexOf('=') + 1) !== maskedValue),
    );
    const missing = missingRequired(schema, item);
    if (missing.length) throw new AdminError(`a new ${area.label} needs ${missing.map((f) => `${f.key}=… (${f.help})`).join(', ')}; nothing was added`, 'invalid');
    const notice = area.afterNew?.(name, item);
    return notice ? { notice } : {};
  });
}

export function editItem(runtime: Runtime, actor: Actor, areaId: AreaId, name: string, values: SettingValues, scope?: string): void {
  authorize(actor, 'edit');
  const area = areaOf(areaId);
  checkScope(area, scope);
  const words = wordsOf(values);
  if (areaId === 'users' && words.some((w) => w.startsWith('passwordHash=')))
    throw new AdminError('set a password with the password (userconfig password NAME), not its hash', 'invalid');
  editChangesWith(runtime, actor, (draft) => {
    const path = area.path(draft, scope);
    const list = listAt(draft, path);
    const item = find(area, list, name);
    const schema = objectSchemaAt([...path, list.indexOf(item)], draft);
    const given = withoutKeptSecrets(words, fieldInfo(schema));
    if (words.length === 0) throw new AdminError(`give settings as key=value; see "fields ${name}"`, 'invalid');
    applyAssignments(item, schema, given, area.parsers);
  });
}

/** Renames an item; returns the references that were updated to the new name. */
export function renameItem(runtime: Runtime, actor: Actor, areaId: AreaId, from: string, to: string, scope?: string): string[] {
  authorize(actor, 'edit');
  const area = areaOf(areaId);
  checkScope(area, scope);
  if (!from || !to) throw new AdminError('name the item and its new name', 'invalid');
  return editChangesWith(runtime, actor, (draft) => {
    if (area.kind) return renameObject(draft, area.kind, from, to, scope);
    const list = listAt(draft, area.path(draft, scope));
    if (list.some((i) => i[area.key] === to)) throw new AdminError(`a ${area.label} "${to}" already exists`, 'conflict');
    find(area, list, from)[area.key] = to;
    return [];
  });
}

export function deleteItem(runtime: Runtime, actor: Actor, areaId: AreaId, name: string, scope?: string): void {
  authorize(actor, 'edit');
  const area = areaOf(areaId);
  checkScope(area, scope);
  editChangesWith(runtime, actor, (draft) => {
    if (area.kind) deleteObject(draft, area.kind, name, scope);
    else {
      const list = listAt(draft, area.path(draft, scope));
      list.splice(list.indexOf(find(area, list, name)), 1);
    }
  });
}

function groupOf(id: GroupId) {
  const group = settingsGroups[id];
  if (!group) throw new AdminError(`there is no settings group "${id}"; groups: ${Object.keys(settingsGroups).join(', ')}`, 'not-found');
  return group;
}

/** A group's settings, secrets masked (lists in it are areas of their own and are left in). */
export function groupSettings(runtime: Runtime, actor: Actor, groupId: GroupId): Record<string, unknown> {
  const group = groupOf(groupId);
  return maskSecrets(candidateConfig(runtime, actor))[group.section] as unknown as Record<string, unknown>;
}

export function groupFields(runtime: Runtime, actor: Actor, groupId: GroupId): FieldInfo[] {
  const group = groupOf(groupId);
  const config = candidateConfig(runtime, actor);
  return fieldInfo(objectSchemaAt([group.section], config), config[group.section] as unknown as Item);
}

export function editGroup(runtime: Runtime, actor: Actor, groupId: GroupId, values: SettingValues): void {
  authorize(actor, 'edit');
  const group = groupOf(groupId);
  const words = wordsOf(values);
  if (words.length === 0) throw new AdminError('give settings as key=value; see "fields"', 'invalid');
  editChangesWith(runtime, actor, (draft) => {
    const schema = objectSchemaAt([group.section], draft);
    applyAssignments(draft[group.section] as unknown as Item, schema, withoutKeptSecrets(words, fieldInfo(schema)), group.parsers);
  });
}

/** The scrypt hash of a new password, or an AdminError naming what it lacks. */
function passwordHashOf(password: string): string {
  const problems = passwordProblems(password);
  if (problems.length) throw new AdminError(`the password needs ${problems.join(' and ')}`, 'invalid');
  return hashPassword(password);
}

/** A new administrator account with its password (kept only as a scrypt hash). */
export function newUser(runtime: Runtime, actor: Actor, name: string, password: string, values: SettingValues): { notice?: string } {
  authorize(actor, 'edit');
  const words = wordsOf(values);
  if (words.some((w) => w.startsWith('passwordHash='))) throw new AdminError('set a password with the password, not its hash', 'invalid');
  const passwordHash = passwordHashOf(password);
  const area = settingsAreas.users;
  return editChangesWith(runtime, actor, (draft) => {
    if (draft.users.some((u) => u.name === name)) throw new AdminError(`a user "${name}" already exists; use edit`, 'conflict');
    const { item, schema } = addNew(area, draft, undefined, name, undefined, [...words, `passwordHash=${passwordHash}`]);
    const missing = missingRequired(schema, item);
    if (missing.length) throw new AdminError(`a new user needs ${missing.map((f) => `${f.key}=… (${f.help})`).join(', ')}; nothing was added`, 'invalid');
    return {};
  });
}

export function setUserPassword(runtime: Runtime, actor: Actor, name: string, password: string): void {
  authorize(actor, 'edit');
  const passwordHash = passwordHashOf(password);
  editChangesWith(runtime, actor, (draft) => {
    const user = draft.users.find((u) => u.name === name);
    if (!user) throw new AdminError(`there is no user "${name}"`, 'not-found');
    user.passwordHash = passwordHash;
  });
}
