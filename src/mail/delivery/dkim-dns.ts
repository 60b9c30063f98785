// The DNS TXT record that publishes a DKIM profile's public key (RFC 6376 3.6.1),
// as a name/value pair and as a zone-file line with the value split into
// 255-character strings.
import type { KeyObject } from 'node:crypto';
import type { DkimProfile } from './dkim-signer.js';

export interface DkimDnsRecord {
  name: string;
  value: string;
  zoneLine: string;
}

export function dkimDnsRecord(profile: Pick<DkimProfile, 'domain' | 'selector'>, publicKey: KeyObject): DkimDnsRecord {
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error(`DKIM signs with RSA keys here; this key is ${publicKey.asymmetricKeyType}`);
  const name = `${profile.selector.trim()}._domainkey.${profile.domain.trim().toLowerCase().replace(/\.$/, '')}`;
  const value = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  const strings = (value.match(/.{1,255}/g) ?? []).map((s) => `"${s}"`).join(' ');
  return { name, value, zoneLine: `${name}. IN TXT ( ${strings} )` };
}
