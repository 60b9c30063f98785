// Distinguished names for people: "CN=DoD Root CA 3, OU=PKI, O=U.S. Government".
import { children, decodeOid, readTlv, Tag, value } from './der.js';

const short: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

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
        parts.push(`${short[oid] ?? oid}=${value(name, text).toString(encoding)}`);
      }
    }
    return parts.reverse().join(', ') || '(empty name)';
  } catch {
    return `(unreadable name ${name.subarray(0, 16).toString('hex')}…)`;
  }
}
