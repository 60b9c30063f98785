// The saved configuration file (saveconfig / loadconfig): one XML document that
// maps the configuration one to one. Lists are <item> children of an element
// with type="list"; numbers, booleans and nulls carry their type, so a file
// loads back to exactly what was saved.
//
// Secrets (the fields schema.ts marks secret) are masked by default:
// <bindPassword type="masked"/>, which on load means "keep what this appliance
// has". With secrets=encrypted they are kept, sealed under a passphrase
// (secret-cipher.ts): <bindPassword type="encrypted">…</bindPassword>, the salt and
// a check value on <config>. A plain value still loads (a hand-written file).
//
// Keys and certificates held by the HSM are never part of the configuration
// (it names them by label), so they never reach this file. A file that does
// carry such material, hand-edited or from elsewhere, has it ignored on load,
// and the loader says where (seed "Configuration Files"). Every value and
// attribute is looked at after entity decoding (key-material.ts).
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { keyMaterialIn } from './key-material.js';
import type { ApplianceConfig } from './schema.js';
import { SecretCipher, WrongPassphraseError } from './secret-cipher.js';
import { type ConfigPath, secretPaths, setValueAt, valueAt } from './secrets.js';
import { parseConfig } from './validate.js';

type XmlNode = string | { [key: string]: XmlNode | XmlNode[] | string | undefined };

const maxFileBytes = 16 * 1024 * 1024;
const keyMaterialElement = /^(private_?key|key_?pair|key_?material|hsm_?(certificate|key)s?|certificate_?key_?pairs?)$/i;
const trustedCertificatePath = /^certificates\.trustStore\.\d+\.pem$/;

export class ConfigFileError extends Error {}

export type SecretsInFile = { mode: 'masked' } | { mode: 'encrypted'; passphrase: string };

/** A secret the file does not carry: keep the value configured here. */
class MaskedValue {}
/** A secret sealed under the file's passphrase. */
class EncryptedValue {
  constructor(readonly sealed: string) {}
}

const pathText = (path: ConfigPath) => path.join('.');

function toXml(value: unknown): XmlNode {
  if (value instanceof MaskedValue) return { '@_type': 'masked' };
  if (value instanceof EncryptedValue) return { '@_type': 'encrypted', '#text': value.sealed };
  if (Array.isArray(value)) return { '@_type': 'list', item: value.map(toXml) };
  if (value === null) return { '@_type': 'null' };
  if (typeof value === 'number') return { '@_type': 'number', '#text': String(value) };
  if (typeof value === 'boolean') return { '@_type': 'boolean', '#text': String(value) };
  if (typeof value === 'object') {
    const node: Record<string, XmlNode> = {};
    for (const [key, child] of Object.entries(value as object)) if (child !== undefined) node[key] = toXml(child);
    return node;
  }
  return String(value);
}

/** The configuration as a file; secrets masked unless `secrets` says otherwise. */
export function configToXml(config: ApplianceConfig, meta: { hostname: string; revision: number }, secrets: SecretsInFile = { mode: 'masked' }): string {
  const tree: unknown = structuredClone(config);
  const attributes: Record<string, string> = { '@_revision': String(meta.revision), '@_hostname': meta.hostname };
  const cipher = secrets.mode === 'encrypted' ? SecretCipher.create(secrets.passphrase) : undefined;
  if (cipher) Object.assign(attributes, { '@_secrets': 'encrypted', '@_secretsSalt': cipher.salt, '@_secretsCheck': cipher.check() });
  else attributes['@_secrets'] = 'masked';
  for (const path of secretPaths(config)) {
    const value = valueAt(config, path);
    if (typeof value !== 'string' || value === '') continue;
    if (secrets.mode === 'masked') setValueAt(tree, path, new MaskedValue());
    else if (cipher) setValueAt(tree, path, new EncryptedValue(cipher.encrypt(value, pathText(path))));
  }
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
  const body = builder.build({ config: { ...attributes, ...(toXml(tree) as object) } });
  const about =
    secrets.mode === 'masked'
      ? ' Secrets (passwords) are masked: loading this file keeps the ones configured on the appliance.'
      : ' Secrets are encrypted under the passphrase given to saveconfig.';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!-- Appliance configuration. Keys and certificates held by the HSM are not included: back them up with fipsconfig backup.${about} -->\n${body}`;
}

function isIgnoredMaterial(text: string, path: string): boolean {
  const kind = keyMaterialIn(text);
  return kind === 'private key' || (kind === 'certificate' && !trustedCertificatePath.test(path));
}

/** The attributes of an element other than type, joined: where a key could be hidden. */
function attributeText(node: Record<string, unknown>): string {
  return Object.entries(node)
    .filter(([k, v]) => k.startsWith('@_') && k !== '@_type' && typeof v === 'string')
    .map(([, v]) => v as string)
    .join('');
}

/** The strings of an element as one text: attributes, then its text (a key may be split between them). */
function elementText(node: XmlNode): string {
  if (typeof node === 'string') return node;
  return `${attributeText(node)}${typeof node['#text'] === 'string' ? node['#text'] : ''}`;
}

function fromXml(node: XmlNode, path: string, ignored: string[]): unknown {
  if (typeof node === 'string') return node;
  const type = node['@_type'];
  const text = typeof node['#text'] === 'string' ? node['#text'] : '';
  switch (type) {
    case 'list': {
      const items = (node.item ?? []) as XmlNode[];
      const out: unknown[] = [];
      for (const item of items) {
        const itemPath = `${path}.${out.length}`;
        if (isIgnoredMaterial(elementText(item), itemPath)) {
          ignored.push(itemPath);
          continue;
        }
        out.push(fromXml(item, itemPath, ignored));
      }
      return out;
    }
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new ConfigFileError(`${path}: "${text}" is not a number`);
      return n;
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new ConfigFileError(`${path}: "${text}" is not true or false`);
      return text === 'true';
    case 'null':
      return null;
    case 'masked':
      return new MaskedValue();
    case 'encrypted':
      return new EncryptedValue(text.trim());
    case undefined:
      break;
    default:
      throw new ConfigFileError(`${path}: unknown type="${type}"`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node)) {
    if (key.startsWith('@_') || key === '#text' || child === undefined) continue;
    const childPath = path ? `${path}.${key}` : key;
    if (keyMaterialElement.test(key) || (!Array.isArray(child) && isIgnoredMaterial(elementText(child), childPath))) {
      ignored.push(childPath);
      continue;
    }
    if (Array.isArray(child)) throw new ConfigFileError(`${childPath}: appears more than once`);
    out[key] = fromXml(child, childPath, ignored);
  }
  return out;
}

/** Every string in the document, in order, except the trusted CA certificates (which are configuration). */
function allText(node: XmlNode | XmlNode[] | undefined, path: string, out: string[]): void {
  if (node === undefined) return;
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) allText(n, `${path}.${i}`, out);
    return;
  }
  if (trustedCertificatePath.test(path)) return;
  if (typeof node === 'string') {
    out.push(node);
    return;
  }
  out.push(elementText(node));
  for (const [key, child] of Object.entries(node)) {
    if (key.startsWith('@_') || key === '#text') continue;
    allText(child as XmlNode, key === 'item' ? path : path ? `${path}.${key}` : key, out);
  }
}

export interface LoadedConfigFile {
  config: ApplianceConfig;
  /** Paths of certificate and key material that the file carried and that was ignored. */
  ignoredKeyMaterial: string[];
  /** Paths of masked secrets that kept the value configured here. */
  keptSecrets: string[];
}

export interface ConfigFile {
  /** How the file holds its secrets: masked, encrypted under a passphrase, or plain (a hand-written file). */
  secrets: SecretsInFile['mode'] | 'plain';
  tree: unknown;
  ignoredKeyMaterial: string[];
  encryption?: { salt: string; check: string };
}

/** Parses a saved configuration file; `configFromFile` then turns it into a configuration. */
export function readConfigFile(xml: string): ConfigFile {
  if (Buffer.byteLength(xml) > maxFileBytes) throw new ConfigFileError(`the file is larger than ${maxFileBytes / 1024 / 1024} MB`);
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new ConfigFileError('the file has a DOCTYPE or ENTITY declaration, which a configuration file never needs');
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseTagValue: false,
    parseAttributeValue: false,
    // Character references (&#45; &#x2D;) are decoded, so what is checked for key material is what is loaded.
    htmlEntities: true,
    isArray: (name) => name === 'item',
  });
  let document: Record<string, XmlNode>;
  try {
    document = parser.parse(xml, true) as Record<string, XmlNode>;
  } catch (err) {
    const e = err as { message?: string; err?: { msg?: string; line?: number } };
    throw new ConfigFileError(`the file is not well-formed XML: ${e.err?.msg ?? e.message}${e.err?.line ? ` (line ${e.err.line})` : ''}`);
  }
  const root = document.config;
  if (root === undefined || typeof root === 'string' || Array.isArray(root)) throw new ConfigFileError('the file has no <config> element: it is not an appliance configuration');
  const ignoredKeyMaterial: string[] = [];
  const tree = fromXml(root as XmlNode, '', ignoredKeyMaterial);
  if (ignoredKeyMaterial.length === 0) {
    const texts: string[] = [];
    allText(root as XmlNode, '', texts);
    if (keyMaterialIn(texts.join('')) === 'private key') {
      throw new ConfigFileError(
        'the file carries a private key split across several values; a configuration file never holds keys (HSM keys are restored with fipsconfig backup). Nothing was loaded',
      );
    }
  }
  const salt = root['@_secretsSalt'];
  const check = root['@_secretsCheck'];
  const mode = root['@_secrets'];
  if (mode === 'encrypted') {
    if (typeof salt !== 'string' || typeof check !== 'string') throw new ConfigFileError('the file says its secrets are encrypted but has no secretsSalt and secretsCheck');
    return { secrets: 'encrypted', tree, ignoredKeyMaterial, encryption: { salt, check } };
  }
  return { secrets: mode === 'masked' ? 'masked' : 'plain', tree, ignoredKeyMaterial };
}

/** Where the sentinels (masked, encrypted) are in a tree. */
function sentinels(node: unknown, path: ConfigPath, out: { path: ConfigPath; value: MaskedValue | EncryptedValue }[]): void {
  if (node instanceof MaskedValue || node instanceof EncryptedValue) out.push({ path, value: node });
  else if (Array.isArray(node)) for (const [i, n] of node.entries()) sentinels(n, [...path, i], out);
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) sentinels(v, [...path, k], out);
}

const identityKeys = ['name', 'address', 'domain'] as const;

/**
 * The value this appliance has for the secret at `path` of the file's `tree`: list
 * items are matched by name (or address, domain), not by position, so a masked
 * bind password stays with its LDAP server even when the lists are ordered differently.
 */
function counterpart(current: unknown, tree: unknown, path: ConfigPath): unknown {
  let here = current;
  let there = tree;
  for (const step of path) {
    if (here === null || typeof here !== 'object') return undefined;
    if (typeof step === 'number' && Array.isArray(here) && Array.isArray(there)) {
      const item = there[step] as Record<string, unknown> | undefined;
      const key = identityKeys.find((k) => item && typeof item[k] === 'string');
      here = key ? here.find((h) => (h as Record<string, unknown>)?.[key] === item?.[key]) : here[step];
      there = item;
    } else {
      here = (here as Record<string | number, unknown>)[step];
      there = (there as Record<string | number, unknown> | undefined)?.[step];
    }
  }
  return here;
}

/**
 * The configuration a parsed file holds. Masked secrets keep what `current` has
 * (refused if it has nothing there); encrypted ones need the file's passphrase.
 */
export function configFromFile(file: ConfigFile, options: { current?: ApplianceConfig; passphrase?: string } = {}): LoadedConfigFile {
  const tree = structuredClone(file.tree);
  const found: { path: ConfigPath; value: MaskedValue | EncryptedValue }[] = [];
  sentinels(file.tree, [], found);
  let cipher: SecretCipher | undefined;
  if (found.some((f) => f.value instanceof EncryptedValue) || file.secrets === 'encrypted') {
    if (!file.encryption) throw new ConfigFileError('the file has encrypted values but no secretsSalt and secretsCheck on <config>');
    if (options.passphrase === undefined) throw new ConfigFileError("the file's secrets are encrypted: give the passphrase it was saved with");
    try {
      cipher = SecretCipher.open(options.passphrase, file.encryption.salt, file.encryption.check);
    } catch (err) {
      if (err instanceof WrongPassphraseError) throw new ConfigFileError('the passphrase is wrong: it is not the one the file was saved with. Nothing was loaded');
      throw err;
    }
  }
  const missing: string[] = [];
  const keptSecrets: string[] = [];
  for (const { path, value } of found) {
    if (value instanceof EncryptedValue) {
      try {
        setValueAt(tree, path, cipher!.decrypt(value.sealed, pathText(path)));
      } catch (err) {
        throw new ConfigFileError(`${(err as Error).message}. Nothing was loaded`);
      }
      continue;
    }
    const kept = options.current ? counterpart(options.current, file.tree, path) : undefined;
    if (typeof kept !== 'string' || kept === '') missing.push(pathText(path));
    else {
      setValueAt(tree, path, kept);
      keptSecrets.push(pathText(path));
    }
  }
  if (missing.length > 0) {
    throw new ConfigFileError(
      `the file's secrets are masked and this appliance has none to keep at ${missing.join(', ')}: save the file with "saveconfig FILE secrets=encrypted", ` +
        'or remove those elements from the file and set the secrets after loading. Nothing was loaded',
    );
  }
  const config = parseConfig(tree, 'the file is not a valid configuration');
  const secretAt = new Set(secretPaths(config).map(pathText));
  const misplaced = found.map((f) => pathText(f.path)).filter((p) => !secretAt.has(p));
  if (misplaced.length > 0) throw new ConfigFileError(`${misplaced.join(', ')}: type="masked" and type="encrypted" are only for secret fields`);
  return { config, ignoredKeyMaterial: file.ignoredKeyMaterial, keptSecrets };
}

/** Parses and validates a saved configuration. Throws with the path and reason; never returns half a file. */
export function configFromXml(xml: string, options: { current?: ApplianceConfig; passphrase?: string } = {}): LoadedConfigFile {
  return configFromFile(readConfigFile(xml), options);
}
