// Certificate authorities never trusted, whatever the trust store says: the
// built-in DigiNotar entries (seed 80810, 81754: DigiNotar's roots, and the
// intermediates it ran under the State of the Netherlands root, all carry
// O=DigiNotar B.V. or a DigiNotar common name), plus the administrator's
// entries by SHA-256 fingerprint. Matching only reads fields Node has already
// parsed; it cannot throw on odd certificates.
import type { PeerCertificate } from 'node:tls';
import type { ApplianceConfig } from '../os/config/schema.js';

export interface DistrustedMatch {
  name: string;
  reason: string;
}

const builtIn: { name: string; matches: (c: PeerCertificate) => boolean; reason: string }[] = [
  {
    name: 'DigiNotar',
    reason: 'DigiNotar was compromised in 2011; its roots and intermediates are distrusted',
    matches: (c) => [c.subject?.O, c.subject?.CN, c.issuer?.O].some((v) => (Array.isArray(v) ? v.join(' ') : (v ?? '')).toLowerCase().includes('diginotar')),
  },
];

export class DistrustList {
  private readonly fingerprints: Map<string, DistrustedMatch>;

  constructor(entries: ApplianceConfig['certificates']['distrusted']) {
    this.fingerprints = new Map(entries.map((e) => [e.sha256.toUpperCase(), { name: e.name, reason: e.reason || 'distrusted by the administrator' }]));
  }

  match(certificate: PeerCertificate): DistrustedMatch | undefined {
    const byFingerprint = certificate.fingerprint256 ? this.fingerprints.get(certificate.fingerprint256.toUpperCase()) : undefined;
    if (byFingerprint) return byFingerprint;
    const rule = builtIn.find((r) => r.matches(certificate));
    return rule ? { name: rule.name, reason: rule.reason } : undefined;
  }
}
