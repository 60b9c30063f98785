// The revocation index: per issuer (name AND key identifier), the serials of
// one accepted CRL in a Map. Replacing a CRL is one Map.set of a fully built
// object, so a check sees the old CRL or the new one, never half of either.
import type { X509Certificate } from 'node:crypto';
import { type RevocationIdentity, revocationIdentity } from './certificate.js';
import { serialKey } from './der.js';
import { describeName } from './names.js';
import { type RevocationReason, reasonCode, reasonName } from './reasons.js';

export interface HeldCrl {
  /** The CRL source it came from. */
  source: string;
  issuer: Buffer;
  keyId: Buffer;
  crlNumber?: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: Map<string, number>;
}

interface IndexedCrl extends HeldCrl {
  issuerName: string;
}

export type RevocationStatus =
  | { status: 'good'; issuer: string; serial: string }
  | { status: 'revoked'; issuer: string; serial: string; reason: RevocationReason }
  | { status: 'no-current-crl'; issuer: string; serial: string; detail: string };

/** What the gateway has after STARTTLS: Node's peer certificate (it has `raw`), an X509Certificate, or DER. */
export type PeerCertificate = { raw: Buffer } | X509Certificate | Buffer;

export function issuerKey(issuer: Buffer, keyId: Buffer): string {
  return `${issuer.toString('hex')}#${keyId.toString('hex')}`;
}

export class RevocationIndex {
  private readonly byIssuer = new Map<string, IndexedCrl>();
  // The check's way in: the key id (short), then the issuer name compared in place; names alone for certificates without an authority key id.
  private readonly byKeyId = new Map<string, IndexedCrl[]>();
  private readonly byName = new Map<string, IndexedCrl[]>();

  get(key: string): HeldCrl | undefined {
    return this.byIssuer.get(key);
  }

  all(): HeldCrl[] {
    return [...this.byIssuer.values()];
  }

  replace(crl: HeldCrl): void {
    const key = issuerKey(crl.issuer, crl.keyId);
    const indexed: IndexedCrl = { ...crl, issuerName: describeName(crl.issuer) };
    const previous = this.byIssuer.get(key);
    // Build the new lookup lists first, then swap each in with one Map.set.
    this.byIssuer.set(key, indexed);
    this.swap(this.byKeyId, crl.keyId.toString('hex'), previous, indexed);
    this.swap(this.byName, crl.issuer.toString('hex'), previous, indexed);
  }

  remove(key: string): void {
    const crl = this.byIssuer.get(key);
    if (!crl) return;
    this.byIssuer.delete(key);
    this.swap(this.byKeyId, crl.keyId.toString('hex'), crl, undefined);
    this.swap(this.byName, crl.issuer.toString('hex'), crl, undefined);
  }

  check(peer: PeerCertificate, now = new Date()): RevocationStatus {
    const raw = Buffer.isBuffer(peer) ? peer : peer.raw;
    return this.checkIdentity(revocationIdentity(raw), now);
  }

  private checkIdentity(certificate: RevocationIdentity, now: Date): RevocationStatus {
    const { der } = certificate;
    const serial = der
      .toString('hex', certificate.serialStart, certificate.serialEnd)
      .toUpperCase()
      .replace(/^(00)+(?=.)/, '');
    const crl = this.crlFor(certificate);
    const issuer = crl?.issuerName ?? describeName(der.subarray(certificate.issuerStart, certificate.issuerEnd));
    if (!crl) {
      const keyText = certificate.keyIdStart === undefined ? '' : ` with key id ${der.toString('hex', certificate.keyIdStart, certificate.keyIdEnd)}`;
      return { status: 'no-current-crl', issuer, serial, detail: `no CRL is held for ${issuer}${keyText}` };
    }
    if (crl.nextUpdate.getTime() < now.getTime()) {
      return { status: 'no-current-crl', issuer, serial, detail: `the CRL for ${issuer} expired at ${crl.nextUpdate.toISOString()}` };
    }
    const reason = crl.revoked.get(serialKey(der, certificate.serialStart, certificate.serialEnd));
    // removeFromCRL belongs to delta CRLs; in a full CRL it says the certificate is no longer revoked.
    if (reason === undefined || reason === reasonCode.removeFromCRL) return { status: 'good', issuer, serial };
    return { status: 'revoked', issuer, serial, reason: reasonName(reason) };
  }

  private crlFor(certificate: RevocationIdentity): IndexedCrl | undefined {
    const { der, issuerStart, issuerEnd } = certificate;
    const sameIssuer = (crl: IndexedCrl) => der.compare(crl.issuer, 0, crl.issuer.length, issuerStart, issuerEnd) === 0;
    if (certificate.keyIdStart !== undefined) return this.byKeyId.get(der.toString('hex', certificate.keyIdStart, certificate.keyIdEnd))?.find(sameIssuer);
    // Without an authority key identifier the name must be unambiguous.
    const named = this.byName.get(der.toString('hex', issuerStart, issuerEnd));
    return named?.length === 1 ? named[0] : undefined;
  }

  private swap(map: Map<string, IndexedCrl[]>, key: string, previous: IndexedCrl | undefined, next: IndexedCrl | undefined): void {
    const list = (map.get(key) ?? []).filter((c) => c !== previous);
    if (next) list.push(next);
    if (list.length > 0) map.set(key, list);
    else map.delete(key);
  }
}
