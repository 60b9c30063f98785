// The saved configuration file (saveconfig / loadconfig): one XML document that
// maps the configuration one to one. Lists are <item> children of an element
// with type="list"; numbers, booleans and nulls carry their type, so a file
// loads back to exactly what was saved.
//
// Keys and certificates held by the HSM are never part of the configuration
// (it names them by label), so they never reach this file. A file that does
// carry such material, hand-edited or from elsewhere, has it ignored on load,
// and the loader says where (seed "Configuration Files").
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import type { ApplianceConfig } from './schema.js';
import { parseConfig } from './validate.js';

type XmlNode = string | { [key: string]: XmlNode | XmlNode[] | string | undefined };

const maxFileBytes = 16 * 1024 * 1024;
const keyMaterialElement = /^(private_?key|key_?pair|key_?material|hsm_?(certificate|key)s?|certificate_?key_?pairs?)$/i;
const trustedCertificatePath = /^certificates\.trustStore\.\d+\.pem$/;

export class ConfigFileError extends Error {}

function toXml(value: unknown): XmlNode {
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

export function configToXml(config: ApplianceConfig, meta: { hostname: string; revision: number }): string {
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
  const body = builder.build({ config: { '@_revision': String(meta.revision), '@_hostname': meta.hostname, ...(toXml(config) as object) } });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!-- Appliance configuration. Keys and certificates held by the HSM are not included: back them up with fipsconfig backup. -->\n${body}`;
}

function looksLikeKeyMaterial(text: string, path: string): boolean {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return true;
  return /-----BEGIN CERTIFICATE-----/.test(text) && !trustedCertificatePath.test(path);
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
        if (typeof item === 'string' && looksLikeKeyMaterial(item, itemPath)) {
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
    case undefined:
      break;
    default:
      throw new ConfigFileError(`${path}: unknown type="${type}"`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node)) {
    if (key.startsWith('@_') || key === '#text' || child === undefined) continue;
    const childPath = path ? `${path}.${key}` : key;
    if (keyMaterialElement.test(key) || (typeof child === 'string' && looksLikeKeyMaterial(child, childPath))) {
      ignored.push(childPath);
      continue;
    }
    if (Array.isArray(child)) throw new ConfigFileError(`${childPath}: appears more than once`);
    out[key] = fromXml(child, childPath, ignored);
  }
  return out;
}

export interface LoadedConfigFile {
  config: ApplianceConfig;
  /** Paths of certificate and key material that the file carried and that was ignored. */
  ignoredKeyMaterial: string[];
}

/** Parses and validates a saved configuration. Throws with the path and reason; never returns half a file. */
export function configFromXml(xml: string): LoadedConfigFile {
  if (Buffer.byteLength(xml) > maxFileBytes) throw new ConfigFileError(`the file is larger than ${maxFileBytes / 1024 / 1024} MB`);
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new ConfigFileError('the file has a DOCTYPE or ENTITY declaration, which a configuration file never needs');
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseTagValue: false,
    parseAttributeValue: false,
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
  const raw = fromXml(root as XmlNode, '', ignoredKeyMaterial);
  return { config: parseConfig(raw, 'the file is not a valid configuration'), ignoredKeyMaterial };
}
