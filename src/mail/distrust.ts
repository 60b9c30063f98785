// Certificate authorities never trusted, whatever the trust store says: the
// built-in DigiNotar entries (seed 80810, 81754: DigiNotar's roots, and the
// intermediates it ran under the State of the Netherlands root, all carry
// O=DigiNotar B.V. or a DigiNotar common name), plus the administrator's
// entries by SHA-256 fingerprint. The gateway asks about every certificate of
// a verified chain, the root and the trust-store copy of it included
// (client-certificate.ts). Matching reads the names as src/hsm/x509-name.ts
// writes them; it cannot throw on odd certificates.
import type { X509Certificate } from 'node:crypto';
import { issuerName, subjectName } from '../hsm/x509-name.js';
import type { ApplianceConfig } from '../os/config/schema.js';

export interface DistrustedMatch {
  name: string;
  reason: string;
}

type Named = { subject: string; issuer: string };

const builtIn: { name: string; matches: (c: Named) => boolean; reason: string }[] = [
  {
    name: 'DigiNotar',
    reason: 'DigiNotar was compromised in 2011; its roots and intermediates are distrusted',
    // Any attribute of the subject, or the issuer's, naming DigiNotar: O=DigiNotar B.V., CN=DigiNotar PKIoverheid CA …
    matches: (c) => /diginotar/i.test(c.subject) || /diginotar/i.test(c.issuer),
  },
];

export class DistrustList {
  private readonly fingerprints: Map<string, DistrustedMatch>;

  constructor(entries: ApplianceConfig['certificates']['distrusted']) {
    this.fingerprints = new Map(entries.map((e) => [e.sha256.toUpperCase(), { name: e.name, reason: e.reason || 'distrusted by the administrator' }]));
  }

  match(certificate: X509Certificate): DistrustedMatch | undefined {
    const byFingerprint = this.fingerprints.get(certificate.fingerprint256.toUpperCase());
    if (byFingerprint) return byFingerprint;
    const named = { subject: subjectName(certificate), issuer: issuerName(certificate) };
    const rule = builtIn.find((r) => r.matches(named));
    return rule ? { name: rule.name, reason: rule.reason } : undefined;
  }
}
