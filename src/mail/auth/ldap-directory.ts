// One LDAP server profile as a client: its hosts tried in order, a failed host
// skipped for the back-off period, ldap://, ldaps:// or StartTLS with the
// server certificate checked against the trust store and the host name, the
// client certificate from the HSM when one is configured, and the connect and
// search timeouts. Each piece of work gets a fresh connection bound as the
// service account, so a user bind never leaks into the next piece of work.
import { isIP } from 'node:net';
import { type ConnectionOptions, createSecureContext, type SecureContext } from 'node:tls';
import { BusyError, Client, InvalidCredentialsError, ResultCodeError, SizeLimitExceededError, UnavailableError } from 'ldapts';
import { type LdapServer, portOf } from '../../os/config/ldap-server-type.js';
import type { HostHealth } from './host-health.js';

export interface HsmClientCertificate {
  cert: string;
  privateKeyEngine: string;
  privateKeyIdentifier: string;
}

export interface DirectoryEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

export interface SearchResult {
  entries: DirectoryEntry[];
  /** More entries matched than `sizeLimit`: none are returned. */
  truncated: boolean;
}

export interface DirectoryConnection {
  search(filter: string, attributes: string[], sizeLimit?: number): Promise<SearchResult>;
  /** Simple bind as a user; false when the directory refuses the password. The connection is the user's afterwards: do this last. */
  bindAs(dn: string, password: string): Promise<boolean>;
}

/** No host of the server answered: authentication is temporarily unavailable (454), never refused. */
export class DirectoryUnavailableError extends Error {
  constructor(
    message: string,
    readonly attempts: string[],
  ) {
    super(message);
    this.name = 'DirectoryUnavailableError';
  }
}

export interface DirectoryOptions {
  /** PEM CAs a directory's certificate must chain to. */
  caCertificates: string[];
  /** The chain and HSM key reference of a certificate label. */
  clientCertificate?: (label: string) => Promise<HsmClientCertificate>;
  health: HostHealth;
  onHostFailure?: (host: string, reason: string) => void;
}

/** Loads the engine by id from OPENSSL_ENGINES (as the SMTP listeners do): by path a second context in the process fails. */
function sharedEngine(material: HsmClientCertificate): HsmClientCertificate {
  process.env.OPENSSL_ENGINES ??= '/usr/lib/x86_64-linux-gnu/engines-3';
  return { ...material, privateKeyEngine: 'pkcs11' };
}

/** A result code that says "this host cannot serve now", as opposed to an answer about the request. */
function isHostTrouble(err: unknown): boolean {
  return !(err instanceof ResultCodeError) || err instanceof BusyError || err instanceof UnavailableError;
}

function describe(err: unknown): string {
  const e = err as Error & { code?: string };
  return e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export class LdapDirectory {
  private context: Promise<SecureContext> | undefined;

  constructor(
    readonly server: LdapServer,
    private readonly options: DirectoryOptions,
  ) {}

  /** Runs `work` on the first host that answers; returns its value and the host (host:port) that served it. */
  async run<T>(work: (connection: DirectoryConnection) => Promise<T>): Promise<{ value: T; host: string }> {
    const { server } = this;
    if (server.bindDn && !server.bindPassword) {
      throw new DirectoryUnavailableError(`LDAP server "${server.name}" has a bind DN without a password: an empty bind would be anonymous`, []);
    }
    const secureContext = server.security === 'none' ? undefined : await this.secureContext();
    const port = portOf(server);
    const attempts: string[] = [];
    for (const host of this.options.health.order(server.hosts)) {
      const where = `${host}:${port}`;
      const client = new Client({
        url: `${server.security === 'ldaps' ? 'ldaps' : 'ldap'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
        connectTimeout: server.connectTimeoutMs,
        timeout: server.searchTimeoutMs,
        // Only for ldaps://: given on an ldap:// client, ldapts starts TLS before the StartTLS request.
        ...(server.security === 'ldaps' ? { tlsOptions: this.tlsOptions(host, secureContext) } : {}),
      });
      try {
        if (server.security === 'starttls') await withTimeout(client.startTLS(this.tlsOptions(host, secureContext)), server.connectTimeoutMs, 'StartTLS');
        if (server.bindDn) {
          try {
            await client.bind(server.bindDn, server.bindPassword);
          } catch (err) {
            if (err instanceof InvalidCredentialsError) throw new Error(`the directory refused the bind as ${server.bindDn}: check the bind DN and password`);
            throw err;
          }
        }
        const value = await work(this.connection(client));
        this.options.health.markAlive(host);
        return { value, host: where };
      } catch (err) {
        if (!isHostTrouble(err)) throw err;
        const reason = describe(err);
        attempts.push(`${where}: ${reason}`);
        this.options.health.markDead(host, server.deadHostBackoffSeconds);
        this.options.onHostFailure?.(where, reason);
      } finally {
        client.unbind().catch(() => {});
      }
    }
    throw new DirectoryUnavailableError(`LDAP server "${server.name}" is unavailable: ${attempts.join('; ') || 'no host to try'}`, attempts);
  }

  private connection(client: Client): DirectoryConnection {
    const { server } = this;
    return {
      search: async (filter, attributes, sizeLimit = 50) => {
        try {
          const { searchEntries } = await client.search(server.baseDn, { scope: 'sub', filter, attributes, sizeLimit, timeLimit: Math.ceil(server.searchTimeoutMs / 1000) });
          const entries = searchEntries.map(({ dn, ...rest }) => ({
            dn,
            attributes: Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map((x) => x.toString())])),
          }));
          return { entries, truncated: false };
        } catch (err) {
          if (err instanceof SizeLimitExceededError) return { entries: [], truncated: true };
          throw err;
        }
      },
      bindAs: async (dn, password) => {
        // An empty password makes a simple bind unauthenticated (RFC 4513 5.1.2): many servers answer success.
        if (!password) throw new Error('refusing a bind with an empty password');
        try {
          await client.bind(dn, password);
          return true;
        } catch (err) {
          if (err instanceof InvalidCredentialsError) return false;
          throw err;
        }
      },
    };
  }

  private tlsOptions(host: string, secureContext: SecureContext | undefined): ConnectionOptions {
    return { host, ...(isIP(host) ? {} : { servername: host }), secureContext, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  }

  private secureContext(): Promise<SecureContext> {
    this.context ??= (async () => {
      const label = this.server.clientCertificate;
      const ca = this.options.caCertificates;
      if (!label) return createSecureContext({ ca, minVersion: 'TLSv1.2' });
      if (!this.options.clientCertificate) throw new Error(`the client certificate "${label}" cannot be used: the HSM is not available`);
      const material = sharedEngine(await this.options.clientCertificate(label));
      return createSecureContext({ ca, minVersion: 'TLSv1.2', ...material });
    })().catch((err: Error) => {
      this.context = undefined;
      throw new DirectoryUnavailableError(`LDAP server "${this.server.name}": ${err.message}`, []);
    });
    return this.context;
  }
}
