// Distinguished names for people: "CN=DoD Root CA 3, OU=PKI, O=U.S. Government".
import { attributeShortNames } from '../attribute-names.js';
import { children, decodeOid, readTlv, Tag, value } from './der.js';

export function describeName(name: Buffer): string {
  try {
    const sequence = readTlv(name, 0, name.length, 'Name');
    const parts: string[] = [];
    for (const rdn of children(name, sequence, 'Name')) {
      for (const attribute of children(name, rdn, 'RDN')) {
        const [type, text] = children(name, attribute, 'AttributeTypeAndValue');
        if (!type || type.tag !== Tag.oid || !text) continue;
        const oid = decodeOid(value(name, type));
        const encoding = text.tag === 0x1e ? 'utf16le' : 'utf8';
        parts.push(`${attributeShortNames[oid] ?? oid}=${value(name, text).toString(encoding)}`);
      }
    }
    return parts.reverse().join(', ') || '(empty name)';
  } catch {
    return `(unreadable name ${name.subarray(0, 16).toString('hex')}…)`;
  }
}
