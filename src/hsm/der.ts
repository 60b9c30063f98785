// The few DER shapes PKCS#11 hands over raw: EC points in an OCTET STRING,
// ECDSA signatures as r||s.

/** The point inside CKA_EC_POINT's DER OCTET STRING (SoftHSM2 wraps it). */
export function unwrapEcPoint(value: Buffer): Buffer {
  if (value[0] === 0x04 && value[1] === value.length - 2) return value.subarray(2);
  if (value[0] === 0x04 && value[1] === 0x81 && value[2] === value.length - 3) return value.subarray(3);
  return value;
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

function derInteger(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  let body = unsigned.subarray(start);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

/** PKCS#11 ECDSA output (r||s) as the DER Ecdsa-Sig-Value X.509 and TLS expect. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}
