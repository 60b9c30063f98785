// One typed schema for the whole appliance. Every object is strict: an unknown
// key is an error that names its path, so a typo never silently does nothing.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseHostAccessEntry } from './host-access-entry.js';

const name = z
  .string()
  .trim()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must start with a letter and use only letters, digits, _ . - (at most 64)');
const hostname = z
  .string()
  .trim()
  .regex(/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'must be a host name such as mail.example.com');
const port = z.number().int().min(1).max(65535);
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM');
const emailAddress = z
  .string()
  .trim()
  .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'must be an address such as fips-officer@example.com');
/** A reference to another object by name; the reference table checks that it exists. */
const ref = name;

/**
 * The fields that hold a secret (a password, a hash of one). They are never shown
 * (src/os/config/secrets.ts masks them everywhere configuration is printed) and
 * `saveconfig` masks or encrypts them. Mark a new secret field with `secret(…)`.
 */
export const secretFields = z.registry<{ secret: true }>();
const secret = <T extends z.ZodType>(schema: T): T => {
  secretFields.add(schema, { secret: true });
  return schema;
};

export const severities = ['critical', 'warning', 'information'] as const;
export const logTypes = ['mail', 'authentication', 'crl', 'fips', 'system', 'cli-audit'] as const;
export const sources = ['serial', 'ssh', 'local', 'web', 'fips-auto', 'system'] as const;

const system = z.strictObject({
  hostname,
  timezone: z.string().default('UTC'),
  dnsServers: z.array(z.ipv4().or(z.ipv6())).default([]),
  ntpServers: z.array(hostname.or(z.ipv4())).default([]),
  /** Console sessions end after this long without input: on the serial port (seed "Console Serial Port Timeout": 30 minutes), and over SSH or locally. */
  serialIdleTimeoutSeconds: z.number().int().min(5).max(86400).default(1800),
  sshIdleTimeoutSeconds: z.number().int().min(5).max(86400).default(1800),
  /** Free space the spool keeps: below it new mail gets 452 4.3.1, and what is queued stays safe. */
  spoolReserveMegabytes: z.number().int().min(1).max(1_000_000).default(512),
});

/** An interface of the appliance, rendered as a systemd-networkd .network file (src/os/network.ts). */
const networkInterface = z.strictObject({
  name,
  /** The links it configures, as systemd.network's Name= matches them: "ens3", "en* eth*". */
  match: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9*?._:-]{1,15}( [A-Za-z0-9*?._:-]{1,15})*$/, 'must be interface names or patterns such as ens3 or "en* eth*"'),
  dhcp: z.boolean().default(false),
  /** Static addresses with their prefix length: 192.0.2.10/24, 2001:db8::10/64. */
  addresses: z.array(z.cidrv4().or(z.cidrv6())).default([]),
  gateway: z.ipv4().or(z.ipv6()).optional(),
  mtu: z.number().int().min(576).max(9216).optional(),
});

const user = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a login name: lower-case letters, digits, _ or -'),
  fullName: z.string().default(''),
  role: z.enum(['admin', 'operator', 'read-only']),
  /** scrypt hash made by src/os/users.ts; never a clear password. */
  passwordHash: secret(z.string().regex(/^scrypt\$/, 'must be a scrypt hash made by userconfig')),
  sshPublicKeys: z.array(z.string()).default([]),
});

const hsm = z.strictObject({
  modulePath: z.string().default('/usr/lib/softhsm/libsofthsm2.so'),
  tokenLabel: z.string().min(1).max(32).default('appliance'),
  device: z.enum(['softhsm2', 'pkcs11-card']).default('softhsm2'),
  officerPasswordMinLength: z.number().int().min(8).max(64).default(12),
});

const certificates = z.strictObject({
  /** Certificate authorities trusted for client certificates and CRL signatures (PEM). */
  trustStore: z.array(z.strictObject({ name, pem: z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' }) })).default([]),
  /** Certificates never trusted, whatever signs them (seed 80810, DigiNotar): SHA-256 fingerprints. */
  distrusted: z
    .array(z.strictObject({ name, sha256: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'must be a SHA-256 fingerprint AA:BB:…'), reason: z.string().default('') }))
    .default([]),
});

const ldapServer = z.strictObject({
  name,
  hosts: z.array(hostname.or(z.ipv4())).min(1, 'needs at least one host'),
  port: port.optional(),
  security: z.enum(['none', 'ldaps', 'starttls']).default('starttls'),
  /** HSM certificate label presented when the server asks for a client certificate (never a demo one: seed 69693, 75798). */
  clientCertificate: z.string().optional(),
  bindDn: z.string().default(''),
  bindPassword: secret(z.string().default('')),
  baseDn: z.string().min(1),
  serverType: z.enum(['openldap', 'active-directory', 'oracle-directory']).default('openldap'),
  connectTimeoutMs: z.number().int().min(100).max(120000).default(5000),
  searchTimeoutMs: z.number().int().min(100).max(120000).default(10000),
  deadHostBackoffSeconds: z.number().int().min(1).max(3600).default(60),
});

export const certificateFields = ['cn', 'sn', 'subject', 'issuer', 'email', 'upn'] as const;
const certificateQuery = z.strictObject({
  name,
  type: z.literal('certificate'),
  server: ref,
  fields: z.array(z.enum(certificateFields)).min(1),
  queryString: z.string().min(3),
  /** Unset: the server type's default (uid; sAMAccountName for Active Directory). */
  userIdAttribute: z.string().min(1).optional(),
});
const smtpAuthQuery = z.strictObject({
  name,
  type: z.literal('smtp-auth'),
  server: ref,
  queryString: z.string().min(3),
  method: z.enum(['bind', 'password-attribute']).default('bind'),
  /** For method password-attribute. Unset: the server type's default (userPassword; none for Active Directory, which only binds). */
  passwordAttribute: z.string().min(1).optional(),
  allowanceQueryString: z.string().optional(),
});

const ldapAuthProfile = z.strictObject({
  name,
  type: z.literal('ldap'),
  query: ref,
  checkAllowance: z.boolean().default(false),
  whenDisallowed: z.enum(['monitor', 'reject']).default('reject'),
  customResponse: z.strictObject({ code: z.number().int().min(500).max(599), text: z.string().min(1).max(400) }).optional(),
});
const certificateAuthProfile = z.strictObject({
  name,
  type: z.literal('certificate'),
  certificateQuery: ref,
  /** Narrows the client-certificate CAs of the listeners using this profile to these trust-store CAs (unset: no narrowing). */
  certificateAuthorities: z.array(ref).optional(),
  allowSmtpAuthFallback: z.boolean().default(false),
  fallbackProfile: ref.optional(),
});

const crlSchedule = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('hourly'), minute: z.number().int().min(0).max(59).default(0) }),
  z.strictObject({ kind: z.literal('daily'), time: hhmm }),
  z.strictObject({ kind: z.literal('weekly'), day: z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']), time: hhmm }),
  z.strictObject({ kind: z.literal('cron'), expression: z.string().min(9) }),
]);
// Any URL here: a revision committed when file: sources were allowed still loads (its
// held CRL stays in use, the download refuses it). Only http(s) commits: verify.ts.
const crlUrl = z.url({ error: 'must be an http or https URL' });
const crlSource = z.strictObject({
  name,
  fileType: z.enum(['asn1', 'pem']),
  primaryUrl: crlUrl,
  secondaryUrl: crlUrl.optional(),
  schedule: crlSchedule,
  enabled: z.boolean().default(true),
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .default(200 * 1024 * 1024),
  timeoutSeconds: z.number().int().min(1).max(3600).default(300),
});

const onOffPreferredRequired = z.enum(['off', 'preferred', 'required']);

/**
 * Abuse limits of a mail flow policy (src/mail/abuse-limits.ts, data-deadline.ts; each
 * explained in src/mail/README.md). Unset in every policy, a field takes the built-in
 * default below, chosen as Postfix chooses its own.
 */
export const abuseLimitDefaults = {
  errorSleepMs: 1000, // smtpd_error_sleep_time 1s
  softErrorLimit: 10, // smtpd_soft_error_limit
  hardErrorLimit: 20, // smtpd_hard_error_limit
  errorWindowSeconds: 600,
  authFailureLimit: 5, // fail2ban's maxretry 5 in findtime 10m
  authFailureLimitPerUser: 20,
  authFailureWindowSeconds: 600,
  authBlockSeconds: 900,
  /** Unset: half the listener's maxConnections (Postfix's 50 is half its default process limit of 100). */
  connectionCountLimit: undefined as number | undefined,
  connectionRateLimit: 0, // smtpd_client_connection_rate_limit: off, as in Postfix
  dataTimeoutSeconds: 600,
  dataMinBytesPerSecond: 500, // smtpd_min_data_rate
  dataMinRateGraceSeconds: 30,
};
const limitCount = (max: number) => z.number().int().min(1).max(max).optional();
const limitSeconds = (min: number, max: number) => z.number().int().min(min).max(max).optional();
const abuseLimitFields = {
  errorSleepMs: z.number().int().min(0).max(60_000).optional().describe('ms each command waits per error past softErrorLimit (1000)'),
  softErrorLimit: limitCount(100_000).describe('errors of a client address before its commands are slowed (10)'),
  hardErrorLimit: limitCount(100_000).describe('errors of a client address that end its session with 421 4.7.0 (20)'),
  errorWindowSeconds: limitSeconds(1, 86_400).describe('how long an error counts; an accepted message clears them (600)'),
  authFailureLimit: limitCount(1000).describe('failed AUTH from one address before AUTH from it is blocked (5)'),
  authFailureLimitPerUser: limitCount(100_000).describe('failed AUTH for one user name, from all addresses, past which each failing address is blocked (20)'),
  authFailureWindowSeconds: limitSeconds(1, 86_400).describe('how long a failed AUTH counts (600)'),
  authBlockSeconds: limitSeconds(1, 86_400).describe('how long a blocked address gets 454 4.7.0 to AUTH (900)'),
  connectionCountLimit: limitCount(10_000).describe("connections open at once from one address; below the listener's maxConnections (half of it)"),
  connectionRateLimit: z.number().int().min(0).max(100_000).optional().describe('connections a minute from one address, 0 for no limit (0)'),
  dataTimeoutSeconds: limitSeconds(1, 86_400).describe('longest DATA phase, then 421 4.4.2 (600)'),
  dataMinBytesPerSecond: z.number().int().min(0).max(1_000_000_000).optional().describe('slowest average DATA rate after the grace time, 0 for none (500)'),
  dataMinRateGraceSeconds: limitSeconds(0, 3600).describe('seconds of DATA before the minimum rate applies (30)'),
};
/** A mail flow policy. An absent field means "use default": it comes from the listener's default policy. */
const mailFlowPolicy = z.strictObject({
  name,
  connection: z.enum(['accept', 'relay', 'reject', 'tcp-refuse']).optional(),
  maxMessageBytes: z.number().int().min(1024).optional(),
  maxRecipientsPerMessage: z.number().int().min(1).optional(),
  maxMessagesPerConnection: z.number().int().min(1).optional(),
  tls: onOffPreferredRequired.optional(),
  /** Independent of `tls`: it may be set, and takes effect, where `tls` uses the default (seed known issue 85006). */
  verifyClientCertificate: z.boolean().optional(),
  smtpAuth: onOffPreferredRequired.optional(),
  requireTlsForSmtpAuth: z.boolean().optional(),
  dkimSigning: z.boolean().optional(),
  /** Lines ending in a bare LF (or holding a bare CR), in commands and message text: `reject` (550 5.5.2) or `normalize` to CRLF. Unset everywhere: reject on public listeners, normalize on private ones (Postfix's smtpd_forbid_bare_newline). */
  bareNewline: z.enum(['reject', 'normalize']).optional(),
  ...abuseLimitFields,
});
export const builtInSenderGroups = ['RELAYLIST', 'ALLOWLIST', 'BLOCKLIST', 'SUSPECTLIST', 'UNKNOWNLIST', 'ALL'] as const;
const senderGroup = z.strictObject({
  name,
  /** IPs, CIDRs, ranges (10.0.0.1-10.0.0.9), host names or .domain suffixes (matched by verified reverse DNS). */
  entries: z
    .array(
      z
        .string()
        .trim()
        .refine((e) => parseHostAccessEntry(e) !== undefined, 'must be an IP, CIDR (10.0.0.0/8), range (10.0.0.1-10.0.0.9), host name or .domain'),
    )
    .default([]),
  policy: ref,
});
const listener = z.strictObject({
  name,
  address: z.ipv4().or(z.ipv6()),
  port,
  hostname,
  type: z.enum(['public', 'private']),
  receivedHeaderHostname: z.enum(['listener', 'interface']).default('listener'),
  certificate: z.string().optional(),
  smtpAuthProfile: ref.optional(),
  /**
   * The trust-store CAs (certconfig trust) a client certificate on this listener must chain to, and
   * the CA names its TLS CertificateRequest lists. Unset: every CA of the trust store. Never the
   * system bundle, which serves outgoing TLS only. An empty list trusts no client certificate.
   */
  clientCertificateAuthorities: z.array(ref).optional(),
  maxConnections: z.number().int().min(1).max(10000).default(50),
  verifyReverseDns: z.boolean().default(false),
  /** Recipient domains this listener takes mail for (its recipient access table); any other domain needs a policy that relays. */
  acceptedDomains: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^\.?[a-z0-9.-]+$/, 'must be a domain such as example.com, or .example.com for its subdomains'),
    )
    .default([]),
  defaultPolicy: ref,
  policies: z.array(mailFlowPolicy).min(1),
  hostAccessTable: z.array(senderGroup).default([]),
});

const hostOrAddress = z
  .string()
  .trim()
  .refine((text) => isIP(text) !== 0 || hostname.safeParse(text).success, 'must be a host name or an IP address, such as mx1.example.com or 192.0.2.25');
const routeHost = z.strictObject({ host: hostOrAddress, port: port.default(25), priority: z.number().int().min(0).max(65535).default(0) });
const smtpRoute = z.strictObject({
  domain: z.string().trim().min(1),
  hosts: z.array(routeHost).min(1),
  tls: z.enum(['opportunistic', 'required-verify']).default('opportunistic'),
});
const routes = z.strictObject({
  smtpRoutes: z.array(smtpRoute).default([]),
  defaultRoute: z.array(routeHost).default([]),
  maxQueueHours: z.number().int().min(1).max(720).default(72),
});

const dkimProfile = z.strictObject({
  name,
  domain: hostname,
  selector: z.string().regex(/^[A-Za-z0-9._-]+$/),
  keyLabel: z.string().min(1),
  headers: z.array(z.string()).default(['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type']),
  canonicalization: z.enum(['relaxed/relaxed', 'relaxed/simple', 'simple/simple']).default('relaxed/relaxed'),
});

const logSubscription = z.strictObject({
  name,
  type: z.enum(logTypes),
  level: z.enum(['debug', 'info', 'warning', 'critical']).default('info'),
  maxFileBytes: z
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  maxFiles: z.number().int().min(1).max(1000).default(10),
  /** Raise an Information alert when rollover deletes the oldest file (seed 49958). */
  alertOnDelete: z.boolean().default(false),
});

const alertRecipient = z.strictObject({
  address: emailAddress,
  severities: z
    .array(z.enum(severities))
    .min(1)
    .default([...severities]),
});

export const applianceConfigSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    system,
    users: z.array(user).default([]),
    network: z.strictObject({ interfaces: z.array(networkInterface).default([{ name: 'Data1', match: 'en* eth*', dhcp: true, addresses: [] }]) }).prefault({}),
    hsm: hsm.prefault({}),
    certificates: certificates.prefault({}),
    ldap: z.strictObject({ servers: z.array(ldapServer).default([]), queries: z.array(z.discriminatedUnion('type', [certificateQuery, smtpAuthQuery])).default([]) }).prefault({}),
    smtpAuth: z.strictObject({ profiles: z.array(z.discriminatedUnion('type', [ldapAuthProfile, certificateAuthProfile])).default([]) }).prefault({}),
    crl: z
      .strictObject({
        enabled: z.boolean().default(false),
        whenIssuerHasNoCrl: z.enum(['reject', 'allow-and-log']).default('reject'),
        sources: z.array(crlSource).default([]),
      })
      .prefault({}),
    listeners: z.array(listener).default([]),
    routes: routes.prefault({}),
    dkim: z.strictObject({ profiles: z.array(dkimProfile).default([]) }).prefault({}),
    logs: z.strictObject({ subscriptions: z.array(logSubscription).default([]) }).prefault({}),
    alerts: z.strictObject({ fromAddress: emailAddress.default('alerts@localhost.localdomain'), recipients: z.array(alertRecipient).default([]) }).prefault({}),
  })
  .superRefine((config, ctx) => {
    for (const [i, l] of config.listeners.entries()) {
      const base = config.listeners[i];
      const def = base?.policies.find((p) => p.name === l.defaultPolicy);
      if (!def) continue; // dangling reference, reported by the reference table
      for (const field of ['connection', 'maxMessageBytes', 'maxRecipientsPerMessage', 'maxMessagesPerConnection', 'tls', 'smtpAuth'] as const) {
        if (def[field] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'policies', l.policies.indexOf(def), field],
            message: `the default policy "${def.name}" must set ${field}: other policies take it from here`,
          });
        }
      }
    }
    for (const [i, l] of config.listeners.entries()) abuseLimitIssues(l, (path, message) => ctx.addIssue({ code: 'custom', path: ['listeners', i, ...path], message }));
    for (const [i, iface] of config.network.interfaces.entries()) {
      if (!iface.dhcp && iface.addresses.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['network', 'interfaces', i, 'addresses'], message: `interface "${iface.name}" needs dhcp=yes or at least one address` });
      }
    }
    if (config.network.interfaces.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['network', 'interfaces'], message: 'at least one interface is needed, or the appliance cannot be reached' });
    }
  });

type ListenerShape = z.infer<typeof listener>;
/** Limits that contradict each other or let one address take every connection place of the listener. */
function abuseLimitIssues(l: ListenerShape, issue: (path: (string | number)[], message: string) => void): void {
  const def = l.policies.find((p) => p.name === l.defaultPolicy);
  for (const [j, p] of l.policies.entries()) {
    const soft = p.softErrorLimit ?? def?.softErrorLimit ?? abuseLimitDefaults.softErrorLimit;
    const hard = p.hardErrorLimit ?? def?.hardErrorLimit ?? abuseLimitDefaults.hardErrorLimit;
    if (soft >= hard) issue(['policies', j, 'hardErrorLimit'], `policy "${p.name}": hardErrorLimit (${hard}) must be above softErrorLimit (${soft})`);
    const perAddress = p.connectionCountLimit ?? def?.connectionCountLimit;
    if (perAddress !== undefined && perAddress >= l.maxConnections && l.maxConnections > 1) {
      issue(
        ['policies', j, 'connectionCountLimit'],
        `policy "${p.name}": connectionCountLimit (${perAddress}) must be below the listener's maxConnections (${l.maxConnections}), or one address can take every place`,
      );
    }
  }
}

export type ApplianceConfig = z.infer<typeof applianceConfigSchema>;
export type ApplianceConfigInput = z.input<typeof applianceConfigSchema>;
export type Listener = ApplianceConfig['listeners'][number];
export type MailFlowPolicy = Listener['policies'][number];
export type LogSubscription = ApplianceConfig['logs']['subscriptions'][number];
export type Severity = (typeof severities)[number];
export type LogType = (typeof logTypes)[number];
export type CommitSource = (typeof sources)[number];
