// The two LDAP query types at work: the Certificate Authentication query (a
// verified client certificate → one directory user) and the SMTP
// Authentication query (a user name and password → valid or not, plus the
// allowance query: may this user use SMTP AUTH at all). Directory errors are
// thrown to the caller, which answers them with a temporary failure.
import { FilterParser } from 'ldapts';
import { placeholdersIn } from '../../os/config/ldap-query-template.js';
import { type CertificateQuery, passwordAttributeOf, type SmtpAuthQuery, userIdAttributeOf } from '../../os/config/ldap-server-type.js';
import type { CertificateFields } from '../certificate-fields.js';
import { generalizedTime } from './filter-values.js';
import type { DirectoryConnection, DirectoryEntry, LdapDirectory } from './ldap-directory.js';
import { checkStoredPassword } from './password-schemes.js';
import { QueryTemplateError, renderQuery } from './query-template.js';

export interface QueryTrace {
  /** What the trace is: "certificate", "user", "allowance". */
  step: string;
  filter: string;
  server: string;
  host: string;
  entries: DirectoryEntry[];
  truncated: boolean;
}

export type CertificateLookup = { status: 'found'; user: string; dn: string; trace: QueryTrace } | { status: 'no-user'; reason: string; trace?: QueryTrace };

export type PasswordCheck =
  | { status: 'valid'; dn: string; allowed: boolean | undefined; traces: QueryTrace[] }
  /** `reason` is for the authentication log, never for the client. */
  | { status: 'invalid'; reason: string; traces: QueryTrace[] };

/** Parses the filter as the client library will, so a bad query is a query problem and never a dead host. */
function checkedFilter(filter: string): string {
  try {
    FilterParser.parseString(filter);
  } catch (err) {
    throw new QueryTemplateError(`the query string does not make a valid LDAP filter (${filter}): ${(err as Error).message}`);
  }
  return filter;
}

/** `allAttributes` (Test Query) returns every attribute but passwords; logins fetch only the user ID. */
export async function lookUpCertificateUser(
  directory: LdapDirectory,
  query: CertificateQuery,
  fields: Partial<CertificateFields>,
  allAttributes = false,
): Promise<CertificateLookup> {
  for (const placeholder of placeholdersIn(query.queryString)) {
    if (!(query.fields as string[]).includes(placeholder)) {
      return { status: 'no-user', reason: `query "${query.name}" uses {${placeholder}}, which is not among its certificate fields (${query.fields.join(', ')})` };
    }
    const value = fields[placeholder as keyof CertificateFields];
    if (!value) return { status: 'no-user', reason: `the certificate has no ${placeholder}` };
    // Escaped or not, OpenLDAP's IA5 matching (mail) stops at a NUL: "bob@example.com\0.evil" would find bob.
    if (value.includes('\0')) return { status: 'no-user', reason: `the certificate's ${placeholder} contains a NUL character, which cannot name a user` };
  }
  const filter = checkedFilter(renderQuery(query.queryString, fields as Record<string, string>));
  const userId = userIdAttributeOf(query, directory.server);
  const { value, host } = await directory.run((c) => c.search(filter, allAttributes ? ['*'] : [userId], 2));
  const trace: QueryTrace = { step: 'certificate', filter, server: directory.server.name, host, truncated: value.truncated, entries: value.entries.map((e) => withoutSecrets(e)) };
  if (value.truncated || value.entries.length > 1) return { status: 'no-user', reason: 'more than one directory entry matches: a certificate must identify one user', trace };
  const entry = value.entries[0];
  if (!entry) return { status: 'no-user', reason: 'no directory entry matches the certificate', trace };
  const user = Object.entries(entry.attributes).find(([k]) => k.toLowerCase() === userId.toLowerCase())?.[1][0];
  if (!user) return { status: 'no-user', reason: `the entry ${entry.dn} has no ${userId}`, trace };
  return { status: 'found', user, dn: entry.dn, trace };
}

/** An entry fit to show or log: no password attribute, whatever it is called. */
export function withoutSecrets(entry: DirectoryEntry, passwordAttribute?: string): DirectoryEntry {
  const secret = (k: string) => k.toLowerCase() === passwordAttribute?.toLowerCase() || /password|unicodepwd/i.test(k);
  return { dn: entry.dn, attributes: Object.fromEntries(Object.entries(entry.attributes).filter(([k]) => !secret(k))) };
}

async function credentialsMatch(c: DirectoryConnection, query: SmtpAuthQuery, directory: LdapDirectory, entry: DirectoryEntry, password: string): Promise<string | undefined> {
  if (query.method === 'bind') return (await c.bindAs(entry.dn, password)) ? undefined : 'the directory refused the password (LDAP bind)';
  const attribute = passwordAttributeOf(query, directory.server);
  const stored = Object.entries(entry.attributes).find(([k]) => k.toLowerCase() === attribute?.toLowerCase())?.[1] ?? [];
  if (stored.length === 0) return `the entry has no readable ${attribute ?? 'password attribute'}`;
  const checks = stored.map((s) => checkStoredPassword(s, password));
  if (checks.includes('match')) return undefined;
  const unsupported = checks.find((c) => typeof c === 'object');
  return unsupported ? `the stored password uses an unsupported scheme: ${unsupported.unsupported}` : 'the password does not match';
}

/**
 * Checks a user's password, and with `withAllowance` whether the allowance query finds them.
 * The allowance is asked before the password is checked (a bind makes the connection the user's),
 * but the caller decides on the password first, so the reply never tells a stranger anything.
 */
export async function checkPassword(directory: LdapDirectory, query: SmtpAuthQuery, username: string, password: string, withAllowance: boolean, now: Date): Promise<PasswordCheck> {
  if (!password) return { status: 'invalid', reason: 'empty password refused before any bind', traces: [] };
  if (username.includes('\0')) return { status: 'invalid', reason: 'the user name contains a NUL character', traces: [] };
  const values = { u: username, t: generalizedTime(now) };
  const userFilter = checkedFilter(renderQuery(query.queryString, values));
  const allowanceFilter = withAllowance && query.allowanceQueryString ? checkedFilter(renderQuery(query.allowanceQueryString, values)) : undefined;
  const attribute = query.method === 'password-attribute' ? passwordAttributeOf(query, directory.server) : undefined;
  if (query.method === 'password-attribute' && !attribute) {
    throw new QueryTemplateError(`query "${query.name}": an ${directory.server.serverType} server never reveals passwords; use the LDAP Bind method`);
  }
  const { value, host } = await directory.run(async (c) => {
    const users = await c.search(userFilter, attribute ? [attribute] : ['1.1'], 2);
    const allowance = allowanceFilter ? await c.search(allowanceFilter, ['1.1'], 1) : undefined;
    const entry = users.entries.length === 1 && !users.truncated ? users.entries[0] : undefined;
    const problem = entry ? await credentialsMatch(c, query, directory, entry, password) : undefined;
    return { users, allowance, entry, problem };
  });
  const server = directory.server.name;
  const shown = value.users.entries.map((e) => withoutSecrets(e, attribute));
  const traces: QueryTrace[] = [{ step: 'user', filter: userFilter, server, host, entries: shown, truncated: value.users.truncated }];
  if (allowanceFilter && value.allowance) traces.push({ step: 'allowance', filter: allowanceFilter, server, host, ...value.allowance });
  if (!value.entry) {
    const found = value.users.truncated ? 'more than one' : String(value.users.entries.length);
    return { status: 'invalid', reason: `${found} directory entries match the user name`, traces };
  }
  if (value.problem) return { status: 'invalid', reason: value.problem, traces };
  const allowed = value.allowance ? value.allowance.truncated || value.allowance.entries.length > 0 : undefined;
  return { status: 'valid', dn: value.entry.dn, allowed, traces };
}
