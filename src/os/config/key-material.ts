// Recognises key and certificate material in a text value of a loaded
// configuration file, however it is written: PEM (any "-----BEGIN … PRIVATE KEY-----"
// or CERTIFICATE, with any spacing), OpenSSH private keys (armoured or bare
// base64 of "openssh-key-v1"), and base64 DER of a private key or a certificate.
// The caller gives text after XML entity decoding (xml.ts parses with entities on).
import { createPrivateKey, X509Certificate } from 'node:crypto';

export type KeyMaterial = 'private key' | 'certificate';

const openSshMagic = 'openssh-key-v1';
/** "openssh-key-v1\0" in base64, at the three possible alignments. */
const openSshBase64 = ['b3BlbnNzaC1rZXktdjE', 'vcGVuc3NoLWtleS12M', '9wZW5zc2gta2V5LXYx'];
const base64Run = /[A-Za-z0-9+/]{64,}={0,2}/g;

function derKind(der: Buffer): KeyMaterial | undefined {
  if (der.length < 32 || der[0] !== 0x30) return undefined;
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return 'private key';
    } catch {}
  }
  try {
    new X509Certificate(der);
    return 'certificate';
  } catch {}
  return undefined;
}

/** What key material `text` carries, if any (a private key is reported before a certificate). */
export function keyMaterialIn(text: string): KeyMaterial | undefined {
  const compact = text.replace(/\s+/g, '');
  if (/-----BEGIN[A-Z0-9]*PRIVATEKEY(BLOCK)?-----/i.test(compact)) return 'private key';
  if (compact.includes(openSshMagic) || openSshBase64.some((b) => compact.includes(b))) return 'private key';
  let certificate = /-----BEGIN[A-Z0-9]*CERTIFICATE-----/i.test(compact);
  for (const run of compact.match(base64Run) ?? []) {
    const kind = derKind(Buffer.from(run, 'base64'));
    if (kind === 'private key') return kind;
    if (kind === 'certificate') certificate = true;
  }
  return certificate ? 'certificate' : undefined;
}
