// The certificate authorities a client certificate may chain to: the system
// bundle plus the ones the administrator adds (certconfig).
import { getCACertificates } from 'node:tls';
import type { ApplianceConfig } from '../os/config/schema.js';

export function trustedCaCertificates(certificates: ApplianceConfig['certificates']): string[] {
  return [...getCACertificates('system'), ...certificates.trustStore.map((ca) => ca.pem)];
}
