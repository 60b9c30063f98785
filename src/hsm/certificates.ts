// Certificates on the token, next to their keys: the leaf has the key's label
// and CKA_ID, so pkcs11-tool and the OpenSSL engine pair them; chain
// certificates are stored as "<label>.chain<n>" with their own ids.
import { X509Certificate } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { type HsmKeys, keyIdOf } from './keys.js';
import { type Handle, HsmError, type Pkcs11 } from './module.js';
import { chainLabel, findObjects, readBuffers } from './objects.js';
import { pemBlocks, toPem } from './pem.js';
import { buildCsr, buildSelfSigned, type CertificateRequestSpec, certificateFields, type SelfSignedSpec } from './x509.js';
import { issuerName, subjectName } from './x509-name.js';

export interface CertificateInfo {
  label: string;
  /** CKA_ID, hex: the same as its key's. */
  id: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
  /** Number of chain certificates stored after the leaf. */
  chainLength: number;
}

const certificates = (template: pkcs11js.Template = []): pkcs11js.Template => [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE }, ...template];

export class HsmCertificates {
  constructor(private readonly keys: HsmKeys) {}

  /** A CSR (PEM) for the key, signed in the HSM. */
  async csr(label: string, spec: CertificateRequestSpec): Promise<string> {
    return toPem(await buildCsr(this.keys, label, spec), 'CERTIFICATE REQUEST');
  }

  /** Makes a self-signed certificate for the key and stores it next to it, replacing any earlier one. */
  async selfSign(label: string, spec: SelfSignedSpec): Promise<CertificateInfo> {
    const der = await buildSelfSigned(this.keys, label, spec);
    return this.store(label, [der]);
  }

  /**
   * Stores a signed certificate (PEM, leaf first, then its chain) next to its
   * key. A certificate whose public key is not the key's is refused.
   */
  async import(label: string, pemChain: string): Promise<CertificateInfo> {
    const ders = pemBlocks(pemChain);
    if (ders.length === 0) throw new HsmError('bad-input', 'no PEM certificate found');
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(ders[0]!);
      for (const der of ders.slice(1)) new X509Certificate(der);
    } catch (error) {
      throw new HsmError('bad-input', `not a valid certificate: ${(error as Error).message}`);
    }
    const publicKey = await this.keys.publicKey(label);
    if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new HsmError('certificate-mismatch', `the certificate for ${subjectName(leaf)} does not belong to key "${label}"`);
    }
    return this.store(label, ders);
  }

  async list(): Promise<CertificateInfo[]> {
    const keys = await this.keys.list();
    const found: CertificateInfo[] = [];
    for (const key of keys) {
      const chain = await this.chainDer(key.label, false);
      if (chain.length > 0) found.push(describe(key.label, key.id, chain));
    }
    return found;
  }

  async show(label: string): Promise<CertificateInfo> {
    const key = await this.keys.show(label);
    return describe(label, key.id, await this.chainDer(label));
  }

  /** The leaf certificate as PEM, followed by its chain when asked. */
  async exportPem(label: string, options: { chain?: boolean } = {}): Promise<string> {
    const ders = await this.chainDer(label);
    return (options.chain ? ders : ders.slice(0, 1)).map((der) => toPem(der)).join('');
  }

  /** Deletes the certificate and its chain; the key stays. */
  async delete(label: string): Promise<void> {
    const key = await this.keys.show(label);
    await this.keys.pool.run((session, lib) => {
      for (const handle of certificateHandles(lib, session, label, key.id)) lib.C_DestroyObject(session, handle);
    });
  }

  /** Leaf first, then the chain, as stored on the token. */
  async chainDer(label: string, required = true): Promise<Buffer[]> {
    const key = await this.keys.show(label);
    const ders = await this.keys.pool.run((session, lib) =>
      certificateHandles(lib, session, label, key.id).map((handle) => readBuffers(lib, session, handle, [pkcs11js.CKA_VALUE])[0]!),
    );
    if (required && ders.length === 0) throw new HsmError('key-missing', `key "${label}" has no certificate`);
    return ders;
  }

  private async store(label: string, ders: Buffer[]): Promise<CertificateInfo> {
    const key = await this.keys.show(label);
    const id = Buffer.from(key.id, 'hex');
    await this.keys.pool.run((session, lib) => {
      for (const handle of certificateHandles(lib, session, label, key.id)) lib.C_DestroyObject(session, handle);
      ders.forEach((der, n) => {
        const fields = certificateFields(der);
        lib.C_CreateObject(session, [
          ...certificates(),
          { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_LABEL, value: n === 0 ? label : chainLabel(label, n) },
          { type: pkcs11js.CKA_ID, value: n === 0 ? id : keyIdOf(new X509Certificate(der).publicKey) },
          // 1: end entity, 2: authority.
          { type: pkcs11js.CKA_CERTIFICATE_CATEGORY, value: n === 0 ? 1 : 2 },
          { type: pkcs11js.CKA_SUBJECT, value: fields.subject },
          { type: pkcs11js.CKA_ISSUER, value: fields.issuer },
          { type: pkcs11js.CKA_SERIAL_NUMBER, value: fields.serial },
          { type: pkcs11js.CKA_VALUE, value: der },
        ]);
      });
    });
    return describe(label, key.id, ders);
  }
}

function certificateHandles(lib: Pkcs11, session: Handle, label: string, id: string): Handle[] {
  const leaf = findObjects(
    lib,
    session,
    certificates([
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]),
  );
  if (leaf.length === 0) return [];
  const chain: Handle[] = [];
  for (let n = 1; ; n++) {
    const [handle] = findObjects(lib, session, certificates([{ type: pkcs11js.CKA_LABEL, value: chainLabel(label, n) }]));
    if (handle === undefined) break;
    chain.push(handle);
  }
  return [...leaf, ...chain];
}

function describe(label: string, id: string, ders: Buffer[]): CertificateInfo {
  const leaf = new X509Certificate(ders[0]!);
  return {
    label,
    id,
    subject: subjectName(leaf),
    issuer: issuerName(leaf),
    serialNumber: leaf.serialNumber,
    validFrom: leaf.validFrom,
    validTo: leaf.validTo,
    fingerprint256: leaf.fingerprint256,
    chainLength: ders.length - 1,
  };
}
