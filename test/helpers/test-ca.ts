// A certificate authority run by the real openssl CLI (`openssl req`, `openssl ca`),
// in a folder of its own: make the CA, issue client or server certificates,
// revoke them with a reason (certificateHold included), lift a hold, and
// publish CRLs with `openssl ca -gencrl`. `writeCrl` writes a CRL's DER directly
// and signs it with the CA key through node:crypto, for what openssl ca cannot
// do quickly or at all (a million entries, a thisUpdate in the future).
//
// Only node: imports and erasable TypeScript, so plain `node bench/*.ts` can use it.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type TestKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-pss-2048';

export type TestRevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'CACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL';

export interface TestCaOptions {
  /** Folder for the CA's files; created if missing. */
  dir: string;
  commonName?: string;
  organization?: string;
  key?: TestKeyType;
  /** false makes a CA whose key usage lacks cRLSign. */
  crlSign?: boolean;
  days?: number;
  /** Makes an intermediate CA signed by `parent` (which can then revoke it) instead of a self-signed root. */
  parent?: TestCa;
}

export interface IssueOptions {
  commonName: string;
  /** A whole subject in openssl's -subj form, used instead of /CN=commonName: "/C=US/O=U.S. Government/OU=DoD/OU=PKI/CN=DOE.JOHN.Q.1234567890". */
  subject?: string;
  email?: string;
  key?: TestKeyType;
  days?: number;
  /** openssl extension lines; the default suits a TLS client certificate. */
  extensions?: string[];
}

export interface IssuedCertificate {
  /** Upper-case hex, as Node's getPeerCertificate().serialNumber gives it. */
  serial: string;
  certPath: string;
  keyPath: string;
  pem: string;
  keyPem: string;
  der: Buffer;
}

export interface GenCrlOptions {
  hours?: number;
  days?: number;
  format?: 'der' | 'pem';
}

export interface WrittenCrlOptions {
  /** Synthetic entries, serials made from their index. */
  count?: number;
  /** Extra entries with given serials (hex) and reason codes (RFC 5280 numbers). */
  entries?: { serial: string; reason?: number }[];
  /** Reason code of every synthetic entry; none when undefined. */
  syntheticReason?: number;
  thisUpdate?: Date;
  nextUpdate?: Date;
  crlNumber?: number;
  /** Adds a deltaCRLIndicator naming this base CRL number. */
  deltaOf?: number;
}

export function openssl(args: string[], options: { cwd?: string; input?: string } = {}): string {
  return execFileSync('openssl', args, { cwd: options.cwd, input: options.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
}

function newKeyArgs(key: TestKeyType): string[] {
  switch (key) {
    case 'ec-p256':
      return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    case 'ec-p384':
      return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
    case 'rsa-2048':
      return ['-newkey', 'rsa:2048'];
    case 'rsa-pss-2048':
      return ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'];
  }
}

const reasonArgs: Record<TestRevocationReason, string[]> = {
  unspecified: ['-crl_reason', 'unspecified'],
  keyCompromise: ['-crl_reason', 'keyCompromise'],
  CACompromise: ['-crl_reason', 'CACompromise'],
  affiliationChanged: ['-crl_reason', 'affiliationChanged'],
  superseded: ['-crl_reason', 'superseded'],
  cessationOfOperation: ['-crl_reason', 'cessationOfOperation'],
  certificateHold: ['-crl_hold', 'holdInstructionReject'],
  removeFromCRL: ['-crl_reason', 'removeFromCRL'],
};

export class TestCa {
  readonly dir: string;
  readonly commonName: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly pem: string;
  readonly keyType: TestKeyType;
  /** This CA's certificate followed by its parents', up to the root (PEM). */
  readonly chainPem: string;
  /** For an intermediate: its certificate as its parent issued it (to revoke it with `parent.revoke`). */
  readonly asIssued: IssuedCertificate | undefined;
  private readonly config: string;
  private issued = 0;

  constructor(options: TestCaOptions) {
    this.dir = options.dir;
    this.commonName = options.commonName ?? 'Test CA';
    this.keyType = options.key ?? 'ec-p256';
    this.certPath = join(this.dir, 'ca.pem');
    this.keyPath = join(this.dir, 'ca.key');
    this.config = join(this.dir, 'ca.cnf');
    mkdirSync(join(this.dir, 'issued'), { recursive: true });
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'index.txt.attr'), 'unique_subject = no\n');
    // Random 64-bit starting serials keep CAs of one test apart.
    writeFileSync(join(this.dir, 'serial'), `${(0x10 + (randomBytes(1)[0]! % 0x60)).toString(16)}${randomBytes(7).toString('hex')}\n`);
    writeFileSync(join(this.dir, 'crlnumber'), '01\n');
    const usage = options.crlSign === false ? 'critical, keyCertSign, digitalSignature' : 'critical, keyCertSign, cRLSign';
    writeFileSync(this.config, caConfig(this.dir, usage));
    const subject = `/${options.organization ? `O=${options.organization}/` : ''}CN=${this.commonName}`;
    if (options.parent) {
      const csr = join(this.dir, 'ca.csr');
      openssl(['req', '-config', this.config, '-new', ...newKeyArgs(this.keyType), '-nodes', '-keyout', this.keyPath, '-out', csr, '-subj', subject]);
      const parent = options.parent;
      openssl([
        'ca',
        '-batch',
        '-config',
        parent.config,
        '-in',
        csr,
        '-out',
        this.certPath,
        '-days',
        String(options.days ?? 365),
        '-notext',
        '-extfile',
        this.config,
        '-extensions',
        'v3_ca',
      ]);
      this.pem = readFileSync(this.certPath, 'utf8');
      this.chainPem = `${this.pem}${parent.chainPem}`;
      const certificate = new X509Certificate(this.pem);
      this.asIssued = {
        serial: certificate.serialNumber.toUpperCase(),
        certPath: this.certPath,
        keyPath: this.keyPath,
        pem: this.pem,
        keyPem: readFileSync(this.keyPath, 'utf8'),
        der: certificate.raw,
      };
      return;
    }
    openssl([
      'req',
      '-config',
      this.config,
      '-x509',
      ...newKeyArgs(this.keyType),
      '-nodes',
      '-keyout',
      this.keyPath,
      '-out',
      this.certPath,
      '-days',
      String(options.days ?? 365),
      '-subj',
      subject,
      '-extensions',
      'v3_ca',
    ]);
    this.pem = readFileSync(this.certPath, 'utf8');
    this.chainPem = this.pem;
    this.asIssued = undefined;
  }

  /** An intermediate CA under this one, in a folder beside this CA's. */
  intermediate(options: Omit<TestCaOptions, 'parent' | 'dir'> & { dir?: string } = {}): TestCa {
    return new TestCa({ ...options, dir: options.dir ?? join(this.dir, `intermediate-${++this.issued}`), parent: this });
  }

  /** The trust-store entry for the appliance configuration. */
  trustStoreEntry(name = this.commonName.replace(/[^A-Za-z0-9_.-]/g, '-')): { name: string; pem: string } {
    return { name: /^[A-Za-z]/.test(name) ? name : `ca-${name}`, pem: this.pem };
  }

  issue(options: IssueOptions): IssuedCertificate {
    const base = join(this.dir, 'issued', `${++this.issued}`);
    const keyPath = `${base}.key`;
    const certPath = `${base}.pem`;
    const extensions = options.extensions ?? ['basicConstraints = CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = clientAuth'];
    if (options.email) extensions.push(`subjectAltName = email:${options.email}`);
    writeFileSync(`${base}.ext`, `[ext]\n${extensions.join('\n')}\nauthorityKeyIdentifier = keyid:always\nsubjectKeyIdentifier = hash\n`);
    openssl([
      'req',
      '-config',
      this.config,
      '-new',
      ...newKeyArgs(options.key ?? 'ec-p256'),
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      `${base}.csr`,
      '-subj',
      options.subject ?? `/CN=${options.commonName}`,
    ]);
    openssl([
      'ca',
      '-batch',
      '-config',
      this.config,
      '-in',
      `${base}.csr`,
      '-out',
      certPath,
      '-days',
      String(options.days ?? 30),
      '-notext',
      '-extfile',
      `${base}.ext`,
      '-extensions',
      'ext',
    ]);
    const pem = readFileSync(certPath, 'utf8');
    const certificate = new X509Certificate(pem);
    return { serial: certificate.serialNumber.toUpperCase(), certPath, keyPath, pem, keyPem: readFileSync(keyPath, 'utf8'), der: certificate.raw };
  }

  revoke(certificate: IssuedCertificate, reason: TestRevocationReason = 'unspecified'): void {
    openssl(['ca', '-config', this.config, '-revoke', certificate.certPath, ...reasonArgs[reason]]);
  }

  /** Lifts a certificateHold (or any revocation): the next CRL no longer lists the certificate. */
  release(certificate: IssuedCertificate): void {
    const index = join(this.dir, 'index.txt');
    const lines = readFileSync(index, 'utf8').split('\n');
    const released = lines.map((line) => {
      const fields = line.split('\t');
      if (fields[0] !== 'R' || fields[3]?.toUpperCase() !== certificate.serial) return line;
      return ['V', fields[1], '', ...fields.slice(3)].join('\t');
    });
    writeFileSync(index, released.join('\n'));
  }

  /**
   * Appends `count` revoked entries to the CA database without issuing anything, so the
   * next `gencrl` lists them: openssl ca -gencrl makes a 1,000,000-entry CRL this way in
   * seconds. Serials are 0x70… and never collide with issued ones.
   */
  addSyntheticRevocations(count: number, reason: Exclude<TestRevocationReason, 'certificateHold'> = 'keyCompromise'): void {
    const index = join(this.dir, 'index.txt');
    const revokedAt = `${new Date(Date.now() - 86400_000).toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z,${reason}`;
    const batch: string[] = [];
    for (let i = 0; i < count; i++) {
      batch.push(`R\t301231235959Z\t${revokedAt}\t70${i.toString(16).toUpperCase().padStart(14, '0')}\tunknown\t/CN=synthetic ${i}`);
      if (batch.length === 100_000 || i === count - 1) {
        appendFileSync(index, `${batch.join('\n')}\n`);
        batch.length = 0;
      }
    }
  }

  /** `openssl ca -gencrl`: the next CRL, with the next CRL number. */
  gencrl(options: GenCrlOptions = {}): Buffer {
    const pemPath = join(this.dir, 'crl.pem');
    const validity = options.hours !== undefined ? ['-crlhours', String(options.hours)] : ['-crldays', String(options.days ?? 7)];
    openssl(['ca', '-config', this.config, '-gencrl', ...validity, '-out', pemPath]);
    if (options.format === 'pem') return readFileSync(pemPath);
    const derPath = join(this.dir, 'crl.der');
    openssl(['crl', '-in', pemPath, '-outform', 'DER', '-out', derPath]);
    return readFileSync(derPath);
  }

  /** A CRL written here and signed with the CA key by node:crypto (EC and plain RSA keys). */
  writeCrl(options: WrittenCrlOptions = {}): Buffer {
    const certificate = new X509Certificate(this.pem);
    const thisUpdate = options.thisUpdate ?? new Date(Date.now() - 60_000);
    const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * 86400_000);
    const ec = this.keyType.startsWith('ec-');
    if (this.keyType === 'rsa-pss-2048') throw new Error('writeCrl signs with EC or PKCS#1 RSA keys only');
    const hash = this.keyType === 'ec-p384' ? 'sha384' : 'sha256';
    const algorithm = ec
      ? der(0x30, der(0x06, Buffer.from(hash === 'sha384' ? '2a8648ce3d040303' : '2a8648ce3d040302', 'hex')))
      : der(0x30, der(0x06, Buffer.from('2a864886f70d01010b', 'hex')), Buffer.from([0x05, 0x00]));
    const revoked = revokedEntries(options, time(new Date(thisUpdate.getTime() - 3600_000)));
    const extensions: Buffer[] = [extension('551d23', der(0x30, der(0x80, subjectKeyId(this.certPath)))), extension('551d14', der(0x02, unsignedInteger(options.crlNumber ?? 1)))];
    if (options.deltaOf !== undefined) extensions.push(extension('551d1b', der(0x02, unsignedInteger(options.deltaOf)), true));
    const tbs = der(
      0x30,
      der(0x02, Buffer.from([1])),
      algorithm,
      subjectName(certificate.raw),
      time(thisUpdate),
      time(nextUpdate),
      ...(revoked ? [revoked] : []),
      der(0xa0, der(0x30, ...extensions)),
    );
    const signature = sign(hash, tbs, createPrivateKey(readFileSync(this.keyPath)));
    return der(0x30, tbs, algorithm, der(0x03, Buffer.from([0]), signature));
  }
}

function caConfig(dir: string, keyUsage: string): string {
  return `[ca]
default_ca = test_ca
[test_ca]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
copy_extensions = none
crl_extensions = crl_ext
preserve = yes
[policy_any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional
[crl_ext]
authorityKeyIdentifier = keyid:always
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = ${keyUsage}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;
}

// The synthetic entries go straight into one preallocated Buffer: a million
// entries take well under a second.
function revokedEntries(options: WrittenCrlOptions, revocationDate: Buffer): Buffer | undefined {
  const count = options.count ?? 0;
  const extra = (options.entries ?? []).map((e) => {
    const serial = Buffer.from(e.serial.length % 2 ? `0${e.serial}` : e.serial, 'hex');
    const body = [der(0x02, serial[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serial]) : serial), revocationDate];
    if (e.reason !== undefined) body.push(reasonExtensions(e.reason));
    return der(0x30, ...body);
  });
  if (count === 0 && extra.length === 0) return undefined;
  const reasons = options.syntheticReason === undefined ? undefined : reasonExtensions(options.syntheticReason);
  const entryBody = 10 + revocationDate.length + (reasons?.length ?? 0);
  const entryLength = 2 + entryBody;
  const synthetic = Buffer.alloc(count * entryLength);
  for (let i = 0, at = 0; i < count; i++, at += entryLength) {
    synthetic[at] = 0x30;
    synthetic[at + 1] = entryBody;
    synthetic[at + 2] = 0x02;
    synthetic[at + 3] = 8;
    // Unique 8-byte positive serials: a scrambled high half, the index as the low half.
    synthetic.writeUInt32BE((0x40000000 | (Math.imul(i, 0x9e3779b1) >>> 2)) >>> 0, at + 4);
    synthetic.writeUInt32BE(i, at + 8);
    revocationDate.copy(synthetic, at + 12);
    reasons?.copy(synthetic, at + 12 + revocationDate.length);
  }
  return der(0x30, synthetic, ...extra);
}

function reasonExtensions(reason: number): Buffer {
  return der(0x30, extension('551d15', der(0x0a, Buffer.from([reason]))));
}

function extension(oidHex: string, content: Buffer, critical = false): Buffer {
  return der(0x30, der(0x06, Buffer.from(oidHex, 'hex')), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), der(0x04, content));
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const length = content.reduce((sum, c) => sum + c.length, 0);
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else {
    const bytes: number[] = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, ...content], header.length + length);
}

function unsignedInteger(value: number): Buffer {
  const hex = value.toString(16);
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function time(date: Date): Buffer {
  const iso = date.toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return der(0x17, Buffer.from(text, 'latin1'));
}

function subjectKeyId(certPath: string): Buffer {
  const text = openssl(['x509', '-in', certPath, '-noout', '-ext', 'subjectKeyIdentifier']);
  const hex = text.split('\n')[1]?.trim().replace(/:/g, '');
  if (!hex) throw new Error(`${certPath} has no subjectKeyIdentifier`);
  return Buffer.from(hex, 'hex');
}

// tbsCertificate: [0] version, serial, signature, issuer, validity, subject.
function subjectName(certificate: Buffer): Buffer {
  let at = headerLength(certificate, 0);
  at += headerLength(certificate, at);
  for (let field = 0; field < 5; field++) {
    if (field === 0 && certificate[at] !== 0xa0) continue;
    at = elementEnd(certificate, at);
  }
  return certificate.subarray(at, elementEnd(certificate, at));
}

function headerLength(buffer: Buffer, at: number): number {
  const first = buffer[at + 1]!;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

function elementEnd(buffer: Buffer, at: number): number {
  const first = buffer[at + 1]!;
  if (first < 0x80) return at + 2 + first;
  let length = 0;
  for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + buffer[at + 2 + i]!;
  return at + 2 + (first & 0x7f) + length;
}
