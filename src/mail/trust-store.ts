// The two trust lists, each for its own job.
//
// Outgoing TLS (delivery to the next hop, LDAP over TLS, downloads) trusts the
// system bundle plus the CAs the administrator added (certconfig trust): a
// server's certificate from any public CA is what the bundle is for.
//
// Client certificates on a listener trust only the CAs the administrator chose
// for it (listenerconfig … clientCertificateAuthorities=NAME,…; unset: every CA
// of certconfig trust; a certificate profile's certificateAuthorities narrows it
// further, as a profile made for one card issuer should hold), never the system bundle: with the bundle, any public CA
// could issue a certificate that logs a user in, and the TLS CertificateRequest
// would list some 150 CA names (60 KB to every client; CAC middleware picks the
// certificate from that list). The same list is Node's `ca` on the listener, so
// OpenSSL verifies against it and the CertificateRequest names exactly it.
import { X509Certificate } from 'node:crypto';
import { getCACertificates } from 'node:tls';
import type { ApplianceConfig, Listener } from '../os/config/schema.js';

type Certificates = ApplianceConfig['certificates'];
export type TrustedCa = Certificates['trustStore'][number];

/** Outgoing TLS: the system bundle plus the administrator's CAs. */
export function trustedCaCertificates(certificates: Certificates): string[] {
  return [...getCACertificates('system'), ...certificates.trustStore.map((ca) => ca.pem)];
}

/**
 * The trust-store entries a listener accepts client certificates from: its own list, else the whole
 * trust store, narrowed by its certificate profile's list when it has one.
 */
export function clientCertificateAuthorities(
  config: Pick<ApplianceConfig, 'certificates' | 'smtpAuth'>,
  listener: Pick<Listener, 'clientCertificateAuthorities' | 'smtpAuthProfile'>,
): TrustedCa[] {
  const profile = config.smtpAuth.profiles.find((p) => p.name === listener.smtpAuthProfile);
  const narrowing = profile?.type === 'certificate' ? profile.certificateAuthorities : undefined;
  return config.certificates.trustStore.filter((ca) => (listener.clientCertificateAuthorities?.includes(ca.name) ?? true) && (narrowing?.includes(ca.name) ?? true));
}

/** Every certificate of the entries (an entry may hold a bundle); unreadable blocks are left out, as OpenSSL leaves them out. */
export function anchorCertificates(entries: TrustedCa[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const entry of entries) {
    for (const block of entry.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
      try {
        out.push(new X509Certificate(block));
      } catch {
        // not a certificate OpenSSL can use either
      }
    }
  }
  return out;
}
