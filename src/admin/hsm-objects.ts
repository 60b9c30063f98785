// Keys, CSRs, certificates and DKIM keys on the HSM, made and used by the crypto
// user in this process. Every operation needs an admin in FIPS management mode.
import { isKeyAlgorithm, type KeyAlgorithm } from '../hsm/algorithms.js';
import { type DkimTxtRecord, dkimLabel, dkimTxtRecord, generateDkimKey } from '../hsm/dkim.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { cryptoUser } from './crypto-user.js';
import { AdminError } from './errors.js';
import { authorizeFips, hsmCall } from './fips-access.js';

export type { DkimTxtRecord, KeyAlgorithm };
export const keyAlgorithmNames: KeyAlgorithm[] = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'];

export interface KeySummary {
  label: string;
  algorithm: KeyAlgorithm;
  /** Made for FIPS backup: extractable, only wrapped under a trusted key. */
  backup: boolean;
}

export interface CertificateSummary {
  label: string;
  subject: string;
  validTo: string;
}

type HsmRuntime = Pick<Runtime, 'config' | 'paths'>;

function required(value: string | undefined, what: string): string {
  const trimmed = value?.trim() ?? '';
  if (!trimmed) throw new AdminError(`give the ${what}`, 'invalid');
  return trimmed;
}

export async function listKeys(runtime: HsmRuntime, actor: Actor): Promise<KeySummary[]> {
  authorizeFips(actor);
  const keys = await hsmCall(async () => cryptoUser(runtime).keys.list());
  return keys.map(({ label, algorithm, backup }) => ({ label, algorithm, backup }));
}

export async function generateKey(runtime: HsmRuntime, actor: Actor, spec: { label: string; algorithm: string; backup?: boolean }): Promise<void> {
  authorizeFips(actor);
  const label = required(spec.label, 'key label');
  if (!isKeyAlgorithm(spec.algorithm)) throw new AdminError(`"${spec.algorithm}" is not a key algorithm: choose ${keyAlgorithmNames.join(', ')}`, 'invalid');
  const algorithm = spec.algorithm;
  await hsmCall(async () => cryptoUser(runtime).keys.generate({ label, algorithm, backup: spec.backup ?? false }));
}

/** Deletes the key pair and the certificates stored next to it. */
export async function deleteKey(runtime: HsmRuntime, actor: Actor, label: string): Promise<void> {
  authorizeFips(actor);
  await hsmCall(async () => cryptoUser(runtime).keys.delete(label));
}

/** A certificate signing request for the key, signed in the HSM; the DNS names default to the common name. */
export async function makeCsr(runtime: HsmRuntime, actor: Actor, request: { label: string; commonName: string; dnsNames?: string[] }): Promise<string> {
  authorizeFips(actor);
  const label = required(request.label, 'key label');
  const commonName = required(request.commonName, 'common name');
  const dnsNames = (request.dnsNames ?? []).map((n) => n.trim()).filter(Boolean);
  return hsmCall(async () => cryptoUser(runtime).certificates.csr(label, { subject: { commonName }, dnsNames: dnsNames.length ? dnsNames : [commonName] }));
}

/** A self-signed certificate for the key, stored next to it (replacing any earlier one). */
export async function selfSign(runtime: HsmRuntime, actor: Actor, request: { label: string; commonName: string; days?: number }): Promise<{ validTo: string }> {
  authorizeFips(actor);
  const label = required(request.label, 'key label');
  const commonName = required(request.commonName, 'common name');
  const days = request.days ?? 365;
  if (!Number.isInteger(days) || days < 1) throw new AdminError('the validity must be a whole number of days, at least 1', 'invalid');
  const info = await hsmCall(async () => cryptoUser(runtime).certificates.selfSign(label, { subject: { commonName }, dnsNames: [commonName], days }));
  return { validTo: info.validTo };
}

/** A signed certificate (PEM, leaf first, then its chain) stored next to its key; one of another key is refused. */
export async function importCertificate(runtime: HsmRuntime, actor: Actor, label: string, pem: string): Promise<{ subject: string; chainLength: number }> {
  authorizeFips(actor);
  const info = await hsmCall(async () => cryptoUser(runtime).certificates.import(required(label, 'key label'), pem));
  return { subject: info.subject, chainLength: info.chainLength };
}

export async function listCertificates(runtime: HsmRuntime, actor: Actor): Promise<CertificateSummary[]> {
  authorizeFips(actor);
  const certificates = await hsmCall(async () => cryptoUser(runtime).certificates.list());
  return certificates.map(({ label, subject, validTo }) => ({ label, subject, validTo }));
}

/** The key's certificate and its chain, as PEM. */
export async function exportCertificate(runtime: HsmRuntime, actor: Actor, label: string): Promise<string> {
  authorizeFips(actor);
  return hsmCall(async () => cryptoUser(runtime).certificates.exportPem(label, { chain: true }));
}

/** A DKIM key (RSA, backup-able) for the domain and selector, and the DNS TXT record to publish. */
export async function generateDkim(runtime: HsmRuntime, actor: Actor, request: { domain: string; selector: string }): Promise<{ label: string; txt: DkimTxtRecord }> {
  authorizeFips(actor);
  const key = { domain: required(request.domain, 'domain'), selector: required(request.selector, 'DKIM selector') };
  return hsmCall(async () => {
    const label = dkimLabel(key);
    const { keys } = cryptoUser(runtime);
    await generateDkimKey(keys, key, { backup: true });
    return { label, txt: await dkimTxtRecord(keys, key) };
  });
}
