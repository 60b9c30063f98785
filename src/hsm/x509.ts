// Certificates and CSRs built with pkijs, signed by a key that stays in the HSM.
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { keyAlgorithms } from './algorithms.js';
import type { HsmKeys } from './keys.js';
import { keyIdOf } from './keys.js';

export interface DistinguishedName {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  locality?: string;
  state?: string;
  country?: string;
}

export interface CertificateRequestSpec {
  subject: DistinguishedName;
  /** DNS names for subjectAltName. */
  dnsNames?: string[];
}

export interface SelfSignedSpec extends CertificateRequestSpec {
  days: number;
}

const attributeOids: [keyof DistinguishedName, string][] = [
  ['country', '2.5.4.6'],
  ['state', '2.5.4.8'],
  ['locality', '2.5.4.7'],
  ['organization', '2.5.4.10'],
  ['organizationalUnit', '2.5.4.11'],
  ['commonName', '2.5.4.3'],
];

// pkijs would put every attribute in one multi-valued RDN ("O=x + CN=y"): build one RDN per attribute.
function distinguishedName(dn: DistinguishedName): pkijs.RelativeDistinguishedNames {
  const rdns: asn1js.Set[] = [];
  for (const [field, type] of attributeOids) {
    const value = dn[field];
    if (value === undefined || value === '') continue;
    const asn = field === 'country' ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value });
    rdns.push(new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: asn }).toSchema()] }));
  }
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER(false));
}

function subjectAltName(dnsNames: string[]): pkijs.Extension {
  const names = new pkijs.GeneralNames({ names: dnsNames.map((value) => new pkijs.GeneralName({ type: 2, value })) });
  return new pkijs.Extension({ extnID: '2.5.29.17', critical: false, extnValue: names.toSchema().toBER(false) });
}

function toArrayBuffer(buffer: Buffer): ArrayBuffer {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
}

async function keyMaterial(keys: HsmKeys, label: string) {
  const info = await keys.show(label);
  const algorithm = keyAlgorithms[info.algorithm];
  const publicKey = await keys.publicKey(label);
  const spki = pkijs.PublicKeyInfo.fromBER(toArrayBuffer(publicKey.export({ type: 'spki', format: 'der' })));
  const signatureAlgorithm = () =>
    new pkijs.AlgorithmIdentifier({ algorithmId: algorithm.signatureOid, ...(algorithm.kind === 'rsa' ? { algorithmParams: new asn1js.Null() } : {}) });
  return { algorithm, publicKey, spki, signatureAlgorithm };
}

/** A PKCS#10 request for the key, signed in the HSM; DER. */
export async function buildCsr(keys: HsmKeys, label: string, spec: CertificateRequestSpec): Promise<Buffer> {
  const { spki, signatureAlgorithm } = await keyMaterial(keys, label);
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject = distinguishedName(spec.subject);
  csr.subjectPublicKeyInfo = spki;
  if (spec.dnsNames?.length) {
    csr.attributes = [
      new pkijs.Attribute({
        type: '1.2.840.113549.1.9.14',
        values: [new pkijs.Extensions({ extensions: [subjectAltName(spec.dnsNames)] }).toSchema()],
      }),
    ];
  }
  csr.signatureAlgorithm = signatureAlgorithm();
  // encodeTBS is protected on CertificationRequest: take the first element of the full encoding.
  const tbs = Buffer.from(csr.toSchema(true).valueBlock.value[0]!.toBER(false));
  csr.tbsView = new Uint8Array(tbs);
  csr.signatureValue = new asn1js.BitString({ valueHex: toArrayBuffer(await keys.sign(label, tbs)) });
  return Buffer.from(csr.toSchema(false).toBER(false));
}

/** A self-signed end-entity certificate for the key, signed in the HSM; DER. */
export async function buildSelfSigned(keys: HsmKeys, label: string, spec: SelfSignedSpec): Promise<Buffer> {
  const { algorithm, publicKey, spki, signatureAlgorithm } = await keyMaterial(keys, label);
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and no leading zero byte
  cert.serialNumber = new asn1js.Integer({ valueHex: toArrayBuffer(serial) });
  cert.subject = distinguishedName(spec.subject);
  cert.issuer = distinguishedName(spec.subject);
  const now = Date.now();
  cert.notBefore.value = new Date(now - 60_000);
  cert.notAfter.value = new Date(now + spec.days * 86_400_000);
  cert.subjectPublicKeyInfo = spki;
  // digitalSignature, plus keyEncipherment for RSA.
  const keyUsage = new asn1js.BitString({ valueHex: new Uint8Array([algorithm.kind === 'rsa' ? 0xa0 : 0x80]).buffer, unusedBits: algorithm.kind === 'rsa' ? 5 : 7 });
  cert.extensions = [
    new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: new pkijs.BasicConstraints({ cA: false }).toSchema().toBER(false) }),
    new pkijs.Extension({ extnID: '2.5.29.15', critical: true, extnValue: keyUsage.toBER(false) }),
    new pkijs.Extension({
      extnID: '2.5.29.37',
      critical: false,
      extnValue: new pkijs.ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }).toSchema().toBER(false),
    }),
    new pkijs.Extension({ extnID: '2.5.29.14', critical: false, extnValue: new asn1js.OctetString({ valueHex: toArrayBuffer(keyIdOf(publicKey)) }).toBER(false) }),
    ...(spec.dnsNames?.length ? [subjectAltName(spec.dnsNames)] : []),
  ];
  cert.signature = signatureAlgorithm();
  cert.signatureAlgorithm = signatureAlgorithm();
  const tbs = Buffer.from(cert.encodeTBS().toBER(false));
  cert.tbsView = new Uint8Array(tbs);
  cert.signatureValue = new asn1js.BitString({ valueHex: toArrayBuffer(await keys.sign(label, tbs)) });
  return Buffer.from(cert.toSchema(false).toBER(false));
}

/** The DER fields PKCS#11 keeps beside a certificate's value. */
export function certificateFields(der: Buffer): { subject: Buffer; issuer: Buffer; serial: Buffer } {
  const cert = pkijs.Certificate.fromBER(toArrayBuffer(der));
  return {
    subject: Buffer.from(cert.subject.toSchema().toBER(false)),
    issuer: Buffer.from(cert.issuer.toSchema().toBER(false)),
    serial: Buffer.from(cert.serialNumber.toBER(false)),
  };
}
