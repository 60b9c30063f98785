// CRLReason (RFC 5280 5.3.1). An entry without a reason code is "unspecified".
export const reasonNames = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused7',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export type RevocationReason = (typeof reasonNames)[number];

export const reasonCode = { unspecified: 0, certificateHold: 6, removeFromCRL: 8 } as const;

export function reasonName(code: number): RevocationReason {
  return reasonNames[code] ?? 'unspecified';
}
