// The one table of which named objects refer to which. Renames follow every
// reference, deletes of referenced objects are refused, and a commit with a
// dangling reference is invalid. The seed's known issue 68556 (renaming a profile
// left its user pointing at the old name) cannot happen while every reference is
// listed here.
import type { ApplianceConfig } from './schema.js';

type Named = { name: string };
type Holder = Record<string, unknown>;

interface ReferenceSite {
  scope: string;
  holder: Holder;
  /** The field holding the name, or a list of names. */
  key: string;
  /** Human-readable place, e.g. `listener "Inbound" (smtpAuthProfile)`. */
  where: string;
}

interface ReferenceKind {
  label: string;
  /** Collections of named objects; a scope separates namespaces (mail flow policies are per listener). */
  collections(config: ApplianceConfig): { scope: string; items: Named[]; path: string }[];
  sites(config: ApplianceConfig): ReferenceSite[];
}

const global = '';

export const referenceKinds = {
  'ldap-server': {
    label: 'LDAP server profile',
    collections: (c) => [{ scope: global, items: c.ldap.servers, path: 'ldap.servers' }],
    sites: (c) => c.ldap.queries.map((q) => ({ scope: global, holder: q, key: 'server', where: `LDAP query "${q.name}"` })),
  },
  'ldap-query': {
    label: 'LDAP query',
    collections: (c) => [{ scope: global, items: c.ldap.queries, path: 'ldap.queries' }],
    sites: (c) =>
      c.smtpAuth.profiles.map((p) =>
        p.type === 'ldap'
          ? { scope: global, holder: p, key: 'query', where: `SMTP authentication profile "${p.name}"` }
          : { scope: global, holder: p, key: 'certificateQuery', where: `SMTP authentication profile "${p.name}"` },
      ),
  },
  'smtp-auth-profile': {
    label: 'SMTP authentication profile',
    collections: (c) => [{ scope: global, items: c.smtpAuth.profiles, path: 'smtpAuth.profiles' }],
    sites: (c) => [
      ...c.listeners.map((l) => ({ scope: global, holder: l, key: 'smtpAuthProfile', where: `listener "${l.name}"` })),
      ...c.smtpAuth.profiles.map((p) => ({ scope: global, holder: p, key: 'fallbackProfile', where: `SMTP authentication profile "${p.name}" (fallback)` })),
    ],
  },
  'trusted-ca': {
    label: 'trusted CA',
    collections: (c) => [{ scope: global, items: c.certificates.trustStore, path: 'certificates.trustStore' }],
    sites: (c) => [
      ...c.listeners.map((l) => ({ scope: global, holder: l, key: 'clientCertificateAuthorities', where: `listener "${l.name}" (client certificate authorities)` })),
      ...c.smtpAuth.profiles.map((p) => ({ scope: global, holder: p, key: 'certificateAuthorities', where: `SMTP authentication profile "${p.name}" (certificate authorities)` })),
    ],
  },
  'crl-source': {
    label: 'CRL source',
    collections: (c) => [{ scope: global, items: c.crl.sources, path: 'crl.sources' }],
    sites: () => [],
  },
  'dkim-profile': {
    label: 'DKIM signing profile',
    collections: (c) => [{ scope: global, items: c.dkim.profiles, path: 'dkim.profiles' }],
    sites: () => [],
  },
  'log-subscription': {
    label: 'log subscription',
    collections: (c) => [{ scope: global, items: c.logs.subscriptions, path: 'logs.subscriptions' }],
    sites: () => [],
  },
  listener: {
    label: 'listener',
    collections: (c) => [{ scope: global, items: c.listeners, path: 'listeners' }],
    sites: () => [],
  },
  'mail-flow-policy': {
    label: 'mail flow policy',
    collections: (c) => c.listeners.map((l, i) => ({ scope: l.name, items: l.policies, path: `listeners.${i}.policies` })),
    sites: (c) =>
      c.listeners.flatMap((l) => [
        { scope: l.name, holder: l, key: 'defaultPolicy', where: `listener "${l.name}" (default policy)` },
        ...l.hostAccessTable.map((g) => ({ scope: l.name, holder: g, key: 'policy', where: `listener "${l.name}" sender group "${g.name}"` })),
      ]),
  },
} satisfies Record<string, ReferenceKind>;

export type ReferenceKindName = keyof typeof referenceKinds;

export class ConfigReferenceError extends Error {}

function kind(name: ReferenceKindName): ReferenceKind {
  return referenceKinds[name];
}

/** The names a site refers to: its one name, or each of its list. */
function namesAt(site: ReferenceSite): string[] {
  const value = site.holder[site.key];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Where `name` (of `kindName`, in `scope`) is referred to. */
export function referencesTo(config: ApplianceConfig, kindName: ReferenceKindName, name: string, scope = global): string[] {
  return kind(kindName)
    .sites(config)
    .filter((s) => s.scope === scope && namesAt(s).includes(name))
    .map((s) => s.where);
}

function findItem(config: ApplianceConfig, kindName: ReferenceKindName, name: string, scope: string) {
  const k = kind(kindName);
  const collection = k.collections(config).find((c) => c.scope === scope);
  const item = collection?.items.find((i) => i.name === name);
  if (!collection || !item) {
    throw new ConfigReferenceError(`there is no ${k.label} named "${name}"${scope ? ` in listener "${scope}"` : ''}`);
  }
  return { collection, item, k };
}

/** Renames an object and every reference to it, in place. */
export function renameObject(config: ApplianceConfig, kindName: ReferenceKindName, from: string, to: string, scope = global): string[] {
  const { collection, item, k } = findItem(config, kindName, from, scope);
  if (collection.items.some((i) => i.name === to)) {
    throw new ConfigReferenceError(`a ${k.label} named "${to}" already exists; choose another name`);
  }
  item.name = to;
  const updated: string[] = [];
  for (const site of k.sites(config)) {
    if (site.scope !== scope || !namesAt(site).includes(from)) continue;
    const value = site.holder[site.key];
    site.holder[site.key] = Array.isArray(value) ? value.map((v) => (v === from ? to : v)) : to;
    updated.push(site.where);
  }
  return updated;
}

/** Deletes an object in place, refusing while anything still refers to it. */
export function deleteObject(config: ApplianceConfig, kindName: ReferenceKindName, name: string, scope = global): void {
  const { collection, k } = findItem(config, kindName, name, scope);
  const users = referencesTo(config, kindName, name, scope);
  if (users.length > 0) {
    throw new ConfigReferenceError(`cannot delete ${k.label} "${name}": it is used by ${users.join(', ')}. Change or delete those first.`);
  }
  collection.items.splice(
    collection.items.findIndex((i) => i.name === name),
    1,
  );
}

/** Duplicate names and references to objects that do not exist, as path-and-reason problems. */
export function referenceProblems(config: ApplianceConfig): string[] {
  const problems: string[] = [];
  for (const k of Object.values(referenceKinds) as ReferenceKind[]) {
    const names = new Map<string, Set<string>>();
    for (const { scope, items, path } of k.collections(config)) {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.name)) problems.push(`${path}.${i}.name: another ${k.label} is already named "${item.name}"`);
        seen.add(item.name);
      });
      names.set(scope, seen);
    }
    for (const site of k.sites(config)) {
      for (const target of namesAt(site)) {
        if (!names.get(site.scope)?.has(target)) problems.push(`${site.where} (${site.key}): refers to ${k.label} "${target}", which does not exist`);
      }
    }
  }
  return problems;
}
