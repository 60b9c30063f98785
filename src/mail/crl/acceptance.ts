// The rules a downloaded CRL must pass before it replaces the one held: it
// parsed (the caller scanned it), its issuer is a trust-store CA with cRLSign,
// its signature verifies, it is current, and its CRL number is not older.
import type { TrustAnchor } from './certificate.js';
import { describeName } from './names.js';
import type { HeldCrl } from './revocation-index.js';
import type { ScannedCrl } from './scan.js';
import { signatureVerifies } from './signature.js';

/** `damaged`: the signature fails with the trust store's certificate of that name: damaged bytes, or a CA that was re-keyed (set aside either way, for the administrator to look at). */
export type Verdict = { accepted: true; anchor: TrustAnchor } | { accepted: false; reason: string; damaged?: true };

export interface JudgeOptions {
  now: Date;
  /** The CRL held now for the same issuer (name and key), if any. */
  heldFor: (anchor: TrustAnchor) => HeldCrl | undefined;
  /** At start the saved CRL is judged again without the freshness rules: an expired one is still loaded, and checks then report it expired. */
  checkFreshness?: boolean;
}

export function judgeCrl(crl: ScannedCrl, anchors: TrustAnchor[], options: JudgeOptions): Verdict {
  const issuer = describeName(crl.issuer);
  if (crl.deltaCrlIndicator !== undefined)
    return refuse(`it is a delta CRL (base CRL number ${crl.deltaCrlIndicator}); delta CRLs are not supported, point the source at the full CRL`);
  const named = anchors.filter((a) => a.fields.subject.equals(crl.issuer));
  if (named.length === 0) return refuse(`its issuer "${issuer}" is not in the trust store`);
  const keyed = crl.authorityKeyId ? named.filter((a) => a.keyId.equals(crl.authorityKeyId!)) : named;
  if (keyed.length === 0) return refuse(`its issuer "${issuer}" is in the trust store, but not with the key id ${crl.authorityKeyId!.toString('hex')} the CRL names`);
  const signers = keyed.filter((a) => a.fields.crlSign === true);
  if (signers.length === 0) return refuse(`the trust store certificate "${keyed[0]!.name}" (${issuer}) does not have the cRLSign key usage`);
  let anchor: TrustAnchor | undefined;
  try {
    anchor = signers.find((a) => signatureVerifies(crl.tbs, crl.signatureAlgorithm, crl.signature, a.certificate.publicKey));
  } catch (error) {
    return refuse((error as Error).message);
  }
  if (!anchor) return { accepted: false, reason: `its signature does not verify with the trust store certificate "${signers[0]!.name}" (${issuer})`, damaged: true };
  if (options.checkFreshness === false) return { accepted: true, anchor };
  const now = options.now.getTime();
  if (crl.thisUpdate.getTime() > now) return refuse(`its thisUpdate ${crl.thisUpdate.toISOString()} is in the future`);
  if (!crl.nextUpdate) return refuse('it has no nextUpdate, so it cannot be known to be current');
  if (crl.nextUpdate.getTime() < now) return refuse(`it expired: nextUpdate ${crl.nextUpdate.toISOString()} has passed`);
  const held = options.heldFor(anchor);
  if (held) {
    if (crl.crlNumber !== undefined && held.crlNumber !== undefined) {
      if (crl.crlNumber < held.crlNumber) return refuse(`its CRL number ${crl.crlNumber} is older than the held CRL's ${held.crlNumber}`);
    } else if (crl.thisUpdate.getTime() < held.thisUpdate.getTime()) {
      return refuse(`its thisUpdate ${crl.thisUpdate.toISOString()} is older than the held CRL's ${held.thisUpdate.toISOString()}`);
    }
  }
  return { accepted: true, anchor };
}

function refuse(reason: string): Verdict {
  return { accepted: false, reason };
}
