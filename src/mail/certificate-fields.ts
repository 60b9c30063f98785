// The fields of a client certificate that authentication profiles and LDAP
// certificate queries use, and the extensions the gateway checks. Renderings:
//   cn       the subject's last commonName, as written
//   sn       the serial number, upper-case hex without separators or leading zeros
//   subject  the subject DN, RFC 4514 order and escaping (most significant last), src/hsm/x509-name.ts
//   issuer   the issuer DN, the same way
//   email    the first rfc822Name of subjectAltName, else the subject's emailAddress
//   upn      the first Microsoft UPN otherName (1.3.6.1.4.1.311.20.2.3) of subjectAltName
import type { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { attributeShortNames, certificateNameDers, formatName } from '../hsm/x509-name.js';

export interface CertificateFields {
  cn: string;
  sn: string;
  subject: string;
  issuer: string;
  email: string;
  upn: string;
}

export interface CertificateUsage {
  /** Key usage bits, or undefined when the extension is absent (any use allowed). */
  keyUsage?: { digitalSignature: boolean; keyAgreement: boolean };
  /** Extended key usage OIDs, or undefined when absent. */
  extendedKeyUsage?: string[];
}

const upnOid = '1.3.6.1.4.1.311.20.2.3';

function attributeValue(value: unknown): string {
  const block = value as { valueBlock?: { value?: unknown } };
  return typeof block.valueBlock?.value === 'string' ? block.valueBlock.value : '';
}

function rdnSequence(name: pkijs.RelativeDistinguishedNames): { type: string; value: string }[] {
  return name.typesAndValues.map((tv) => ({ type: attributeShortNames[tv.type] ?? tv.type, value: attributeValue(tv.value) }));
}

function otherNameUpn(value: unknown): string | undefined {
  const parts = (value as asn1js.Constructed).valueBlock?.value;
  const oid = parts?.[0];
  const wrapped = parts?.[1] as asn1js.Constructed | undefined;
  if (!(oid instanceof asn1js.ObjectIdentifier) || oid.valueBlock.toString() !== upnOid) return undefined;
  const inner = wrapped?.valueBlock?.value?.[0];
  return inner ? attributeValue(inner) : undefined;
}

export function parseCertificate(certificate: X509Certificate): { fields: CertificateFields; usage: CertificateUsage } {
  const parsed = pkijs.Certificate.fromBER(certificate.raw);
  const subject = rdnSequence(parsed.subject);
  const names = certificateNameDers(certificate.raw);
  let email = '';
  let upn = '';
  const usage: CertificateUsage = {};
  for (const extension of parsed.extensions ?? []) {
    if (extension.extnID === '2.5.29.17' && extension.parsedValue instanceof pkijs.AltName) {
      for (const name of extension.parsedValue.altNames) {
        if (name.type === 1 && !email) email = String(name.value);
        if (name.type === 0 && !upn) upn = otherNameUpn(name.value) ?? '';
      }
    } else if (extension.extnID === '2.5.29.15' && extension.parsedValue instanceof asn1js.BitString) {
      const first = extension.parsedValue.valueBlock.valueHexView[0] ?? 0;
      usage.keyUsage = { digitalSignature: (first & 0x80) !== 0, keyAgreement: (first & 0x08) !== 0 };
    } else if (extension.extnID === '2.5.29.37' && extension.parsedValue instanceof pkijs.ExtKeyUsage) {
      usage.extendedKeyUsage = extension.parsedValue.keyPurposes;
    }
  }
  return {
    fields: {
      cn: subject.filter((a) => a.type === 'CN').at(-1)?.value ?? '',
      sn: certificate.serialNumber.toUpperCase().replace(/^0+(?=.)/, ''),
      subject: formatName(names.subject),
      issuer: formatName(names.issuer),
      email: email || (subject.find((a) => a.type === 'emailAddress')?.value ?? ''),
      upn,
    },
    usage,
  };
}
