// The Test Query action of an LDAP query (console `ldapconfig test`, the web's
// "Test Query" button): runs against the user's pending configuration, so a query can
// be tried before it is committed. It shows the final filter after substitution and
// RFC 4515 escaping, which server and host answered, the entries (password attributes
// left out) and what an SMTP session would get. A password given is used for one bind
// and never returned or logged: any echo of it in a directory's message is masked.
import { LdapSmtpAuthenticator } from '../mail/auth/authenticator.js';
import type { QueryTrace } from '../mail/auth/queries.js';
import { testQuery } from '../mail/auth/test-query.js';
import type { CertificateFields } from '../mail/certificate-fields.js';
import { certificateFields } from '../os/config/schema.js';
import { maskedValue } from '../os/config/secrets.js';
import type { Runtime } from '../os/runtime.js';
import type { Actor } from './actor.js';
import { candidateConfig } from './changes.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

export type { QueryTrace as LdapSearchTrace };

export interface LdapTestInput {
  /** The name of the LDAP query to try. */
  query: string;
  /** SMTP Authentication queries: the user name. */
  user?: string;
  /** SMTP Authentication queries: with a password the credentials are checked by a bind; without, no bind is made. */
  password?: string;
  /** Certificate queries: the certificate fields (cn, sn, …). */
  certificate?: Partial<CertificateFields>;
}

export interface LdapTestResult {
  query: string;
  type: 'certificate' | 'smtp-auth';
  /** The final filter of the first search, after substitution and escaping (absent when no search was made). */
  filter?: string;
  /** The server profile and host that answered. */
  server?: { name: string; host: string };
  /** Every search made, in order: its step (certificate, user, allowance), filter, server, host and entries. */
  searches: QueryTrace[];
  result: {
    /** Whether the test found what a login needs: the user (certificate), or valid credentials / user entries (SMTP AUTH). */
    matched: boolean;
    /** Entries found by the first search. */
    entries: number;
    /** With a password: whether the bind passed. */
    bind?: 'passed' | 'refused';
    /** What an SMTP session would get, in words. */
    outcome: string;
  };
  elapsedMs: number;
  /** What went wrong (a server unreachable, a bad filter), when the test could not run to the end. */
  error?: string;
}

function hide(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join(maskedValue) : text;
}

function checkedCertificate(values: Record<string, unknown>): Partial<CertificateFields> {
  const stray = Object.keys(values).find((key) => !(certificateFields as readonly string[]).includes(key));
  if (stray !== undefined) throw new AdminError(`"${stray}" is not a certificate field; give fields as ${certificateFields.join('=…, ')}=…`, 'invalid');
  return values as Partial<CertificateFields>;
}

export async function testLdapQuery(runtime: Runtime, actor: Actor, input: LdapTestInput): Promise<LdapTestResult> {
  authorize(actor, 'read');
  const config = candidateConfig(runtime, actor);
  const query = config.ldap.queries.find((q) => q.name === input.query);
  if (!query) throw new AdminError(`no LDAP query "${input.query ?? ''}"; queries: ${config.ldap.queries.map((q) => q.name).join(', ') || 'none'}`, 'not-found');
  const type = query.type === 'certificate' ? 'certificate' : 'smtp-auth';
  if (type === 'certificate' && (input.user !== undefined || input.password !== undefined)) {
    throw new AdminError(`query "${query.name}" is a certificate query: give certificate fields (${certificateFields.join(', ')}), not a user or password`, 'invalid');
  }
  if (type === 'smtp-auth' && input.certificate !== undefined) {
    throw new AdminError(`query "${query.name}" is an SMTP Authentication query: give a user (and a password to check one), not certificate fields`, 'invalid');
  }
  if (input.password !== undefined && input.password === '') throw new AdminError('the password is empty: give one to check, or none to search without a bind', 'invalid');
  // A bind with a given password tells whether a directory password is right: not for a look-only account.
  if (input.password !== undefined) authorize(actor, 'test-password');
  const testInput =
    type === 'certificate'
      ? { certificate: checkedCertificate(input.certificate ?? {}) }
      : { user: input.user ?? '', ...(input.password === undefined ? {} : { password: input.password }) };
  const authenticator = new LdapSmtpAuthenticator(config, { logs: runtime.logs });
  const tested = await testQuery(authenticator, query.name, testInput);
  const secret = input.password;
  const searches = tested.searches;
  const outcome = hide(tested.outcome, secret);
  const first = searches[0];
  const failed = outcome.startsWith('error: ');
  const bind = type === 'smtp-auth' && secret !== undefined && !failed ? (outcome.startsWith('credentials valid') ? 'passed' : 'refused') : undefined;
  const matched = failed ? false : type === 'certificate' ? outcome.startsWith('user ') : bind ? bind === 'passed' : (first?.entries.length ?? 0) > 0;
  return {
    query: query.name,
    type,
    ...(first ? { filter: first.filter, server: { name: first.server, host: first.host } } : {}),
    searches,
    result: { matched, entries: first?.entries.length ?? 0, ...(bind ? { bind } : {}), outcome },
    elapsedMs: tested.elapsedMs,
    ...(failed ? { error: outcome.slice('error: '.length) } : {}),
  };
}
