// A real OpenLDAP slapd per test file, on loopback ports, with its own
// slapd.conf, database and TLS certificate in a temp folder. It carries the
// CAC schema of the seed's walkthroughs: caccn, cacserial, cacexempt and
// cacemergency (GeneralizedTime with ordering, so `cacemergency>={t}` works).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { freePort } from './gateway.js';
import { tempState } from './state.js';
import type { TestCa } from './test-ca.js';

export const baseDn = 'dc=example,dc=com';
export const serviceDn = 'cn=appliance,ou=services,dc=example,dc=com';
export const servicePassword = 'Service-Secret-1';

const cacSchema = `
attributetype ( 1.3.6.1.4.1.4203.666.11.77.1.1 NAME 'caccn'
  DESC 'CommonName of the CAC certificate' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.4203.666.11.77.1.2 NAME 'cacserial'
  DESC 'serial number of the CAC certificate, upper-case hex' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.4203.666.11.77.1.3 NAME 'cacexempt'
  DESC 'exempt from using a CAC' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.77.1.4 NAME 'cacemergency'
  DESC 'end of the window in which the user may send without a CAC'
  EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.77.2.1 NAME 'cacUser' SUP top AUXILIARY
  MAY ( caccn $ cacserial $ cacexempt $ cacemergency ) )
`;

export interface DirectoryUser {
  uid: string;
  /** Clear text; stored as given in `userPasswordValue`, else hashed {SSHA} by slappasswd. */
  password?: string;
  userPasswordValue?: string;
  mail?: string;
  caccn?: string;
  cacserial?: string;
  cacexempt?: boolean;
  /** GeneralizedTime, e.g. 20300101000000Z. */
  cacemergency?: string;
}

export function generalizedTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function userLdif(user: DirectoryUser): string {
  const password = user.userPasswordValue ?? (user.password ? execFileSync('slappasswd', ['-s', user.password], { encoding: 'utf8' }).trim() : undefined);
  const lines = [
    `dn: uid=${user.uid},ou=people,${baseDn}`,
    'objectClass: inetOrgPerson',
    'objectClass: posixAccount',
    'objectClass: cacUser',
    `uid: ${user.uid}`,
    `cn: ${user.uid}`,
    `sn: ${user.uid}`,
    `uidNumber: ${1000 + (Buffer.from(user.uid).reduce((a, b) => a + b, 0) % 50000)}`,
    'gidNumber: 100',
    `homeDirectory: /home/${user.uid}`,
  ];
  if (password) lines.push(`userPassword: ${password}`);
  if (user.mail) lines.push(`mail: ${user.mail}`);
  if (user.caccn) lines.push(user.caccn.startsWith(' ') || /[^\x20-\x7e]/.test(user.caccn) ? `caccn:: ${Buffer.from(user.caccn).toString('base64')}` : `caccn: ${user.caccn}`);
  if (user.cacserial) lines.push(`cacserial: ${user.cacserial}`);
  if (user.cacexempt) lines.push('cacexempt: TRUE');
  if (user.cacemergency) lines.push(`cacemergency: ${user.cacemergency}`);
  return `${lines.join('\n')}\n`;
}

function baseLdif(): string {
  return `dn: ${baseDn}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,${baseDn}
objectClass: organizationalUnit
ou: people

dn: ou=services,${baseDn}
objectClass: organizationalUnit
ou: services

dn: ${serviceDn}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: appliance
userPassword: ${execFileSync('slappasswd', ['-s', servicePassword], { encoding: 'utf8' }).trim()}
`;
}

export interface SlapdOptions {
  /** Loopback address to listen on (127.0.0.2 makes a second host on the same port). */
  host?: string;
  port?: number;
  ldapsPort?: number;
  users: DirectoryUser[];
  /** Issues the server certificate (SAN: localhost, 127.0.0.1, 127.0.0.2). */
  ca: TestCa;
  /** Require a client certificate from this CA (PEM holder) on TLS connections. */
  requireClientCertificateFrom?: { pem: string };
}

export class Slapd {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly ldapsPort: number;
  private child: ChildProcess | undefined;

  private constructor(dir: string, host: string, port: number, ldapsPort: number) {
    this.dir = dir;
    this.host = host;
    this.port = port;
    this.ldapsPort = ldapsPort;
  }

  /** Makes the configuration and database, loads the users with slapadd, and starts slapd. */
  static async start(t: Test, options: SlapdOptions): Promise<Slapd> {
    const dir = tempState(t, 'slapd-');
    const host = options.host ?? '127.0.0.1';
    const server = new Slapd(dir, host, options.port ?? (await freePort()), options.ldapsPort ?? (await freePort()));
    mkdirSync(join(dir, 'db'));
    writeFileSync(join(dir, 'cac.schema'), cacSchema);
    const certificate = options.ca.issue({
      commonName: 'ldap.example.com',
      extensions: [
        'basicConstraints = CA:FALSE',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'subjectAltName = DNS:localhost, DNS:ldap.example.com, IP:127.0.0.1, IP:127.0.0.2',
      ],
    });
    const clientCa = options.requireClientCertificateFrom;
    writeFileSync(join(dir, 'ca.pem'), clientCa ? clientCa.pem : options.ca.pem);
    writeFileSync(
      join(dir, 'slapd.conf'),
      `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include ${dir}/cac.schema
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${certificate.certPath}
TLSCertificateKeyFile ${certificate.keyPath}
TLSVerifyClient ${clientCa ? 'demand' : 'never'}
database mdb
suffix "${baseDn}"
rootdn "cn=admin,${baseDn}"
rootpw admin-secret
directory ${dir}/db
maxsize 16777216
index objectClass,uid,caccn,cacserial eq
access to attrs=userPassword by dn.exact="${serviceDn}" read by self write by anonymous auth by * none
access to * by * read
`,
    );
    writeFileSync(join(dir, 'data.ldif'), [baseLdif(), ...options.users.map(userLdif)].join('\n'));
    execFileSync('slapadd', ['-q', '-f', join(dir, 'slapd.conf'), '-l', join(dir, 'data.ldif')], { stdio: 'pipe' });
    await server.resume();
    t.teardown(() => server.stop());
    return server;
  }

  /** Starts slapd again (after `stop`), on the same ports with the same data. */
  async resume(): Promise<void> {
    if (this.child) return;
    const urls = `ldap://${this.host}:${this.port}/ ldaps://${this.host}:${this.ldapsPort}/`;
    // SLAPD_DEBUG (e.g. "conns,stats") writes slapd's debug output to slapd.log in its folder.
    const child = spawn('slapd', ['-f', join(this.dir, 'slapd.conf'), '-h', urls, '-d', process.env.SLAPD_DEBUG ?? '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr?.on('data', (d: Buffer) => {
      errors += d;
      if (process.env.SLAPD_DEBUG) appendFileSync(join(this.dir, 'slapd.log'), d);
    });
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await listening(this.host, this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`slapd did not start: ${errors}`);
      await sleep(50);
    }
  }

  /** Stops slapd: connections to its ports are refused until `resume`. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }

  /** Runs ldapmodify as the directory manager (for changes made during a test). */
  modify(ldif: string): void {
    execFileSync('ldapmodify', ['-x', '-H', `ldap://${this.host}:${this.port}`, '-D', `cn=admin,${baseDn}`, '-w', 'admin-secret'], { input: ldif, stdio: 'pipe' });
  }
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** An LDAP server profile (configuration input) for slapd instances listening on the same port. */
export function ldapServerProfile(servers: Slapd[], overrides: Record<string, unknown> = {}) {
  const first = servers[0]!;
  const security = (overrides.security as 'none' | 'ldaps' | 'starttls' | undefined) ?? 'starttls';
  return {
    name: 'corp',
    hosts: servers.map((s) => s.host),
    port: security === 'ldaps' ? first.ldapsPort : first.port,
    security,
    bindDn: serviceDn,
    bindPassword: servicePassword,
    baseDn,
    connectTimeoutMs: 2000,
    searchTimeoutMs: 3000,
    ...overrides,
  } as const;
}
