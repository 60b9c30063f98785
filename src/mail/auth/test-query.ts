// The Test Query action of an LDAP query, as the console shows it: the final
// filter, the server and host that answered, the entries found (password
// attributes left out) and the time taken; for an SMTP Authentication query
// given a password, also whether the credentials pass and the allowance query
// finds the user.
import type { CertificateFields } from '../certificate-fields.js';
import type { LdapSmtpAuthenticator } from './authenticator.js';
import { generalizedTime } from './filter-values.js';
import { checkPassword, lookUpCertificateUser, type QueryTrace, withoutSecrets } from './queries.js';
import { renderQuery } from './query-template.js';

export interface TestQueryInput {
  /** Certificate queries: the certificate fields to try. */
  certificate?: Partial<CertificateFields>;
  /** SMTP Authentication queries: the user name, and optionally the password to check. */
  user?: string;
  password?: string;
}

export interface TestQueryResult {
  query: string;
  /** One per search made: final filter, server, host, entries. */
  searches: QueryTrace[];
  /** What an SMTP session would get. */
  outcome: string;
  elapsedMs: number;
}

export async function testQuery(authenticator: LdapSmtpAuthenticator, queryName: string, input: TestQueryInput, now = new Date()): Promise<TestQueryResult> {
  const started = performance.now();
  const result = (searches: QueryTrace[], outcome: string): TestQueryResult => ({ query: queryName, searches, outcome, elapsedMs: Math.round(performance.now() - started) });
  try {
    const kind = authenticatorQuery(authenticator, queryName);
    if (kind.type === 'certificate') {
      const found = await lookUpCertificateUser(authenticator.directory(kind.server), kind, input.certificate ?? {}, true);
      return result(found.trace ? [found.trace] : [], found.status === 'found' ? `user ${found.user} (${found.dn})` : `no user: ${found.reason}`);
    }
    const directory = authenticator.directory(kind.server);
    if (input.password) {
      const checked = await checkPassword(directory, kind, input.user ?? '', input.password, Boolean(kind.allowanceQueryString), now);
      const allowance = checked.status === 'valid' && checked.allowed !== undefined ? `; allowance query ${checked.allowed ? 'allows' : 'does not allow'} SMTP AUTH` : '';
      return result(checked.traces, checked.status === 'valid' ? `credentials valid${allowance}` : `credentials refused: ${checked.reason}`);
    }
    // Without a password: the user and allowance searches only, never a bind.
    const values = { u: input.user ?? '', t: generalizedTime(now) };
    const filters = [['user', renderQuery(kind.queryString, values)], ...(kind.allowanceQueryString ? [['allowance', renderQuery(kind.allowanceQueryString, values)]] : [])];
    const { value, host } = await directory.run(async (c) => Promise.all(filters.map(async ([, filter]) => c.search(filter!, ['*']))));
    const searches = value.map((found, i) => ({
      step: filters[i]![0]!,
      filter: filters[i]![1]!,
      server: directory.server.name,
      host,
      truncated: found.truncated,
      entries: found.entries.map((e) => withoutSecrets(e, kind.passwordAttribute)),
    }));
    const allowance = searches.find((search) => search.step === 'allowance');
    const allows = allowance ? `; allowance query ${allowance.entries.length > 0 ? 'allows' : 'does not allow'} SMTP AUTH` : '';
    return result(searches, `${searches[0]?.entries.length ?? 0} user entries found${allows}; no bind was made (add the word "password" to check one)`);
  } catch (err) {
    return result([], `error: ${(err as Error).message}`);
  }
}

function authenticatorQuery(authenticator: LdapSmtpAuthenticator, name: string) {
  try {
    return authenticator.query(name, 'certificate');
  } catch {
    return authenticator.query(name, 'smtp-auth');
  }
}
