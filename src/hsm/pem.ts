// PEM certificates in and out.
export function pemBlocks(pem: string, type = 'CERTIFICATE'): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${type}-----([A-Za-z0-9+/=\\s]+?)-----END ${type}-----`, 'g');
  return [...pem.matchAll(pattern)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export function toPem(der: Buffer, type = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}
