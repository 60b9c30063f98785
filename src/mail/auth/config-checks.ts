// Problems in LDAP queries that the schema cannot see: placeholders a query
// type does not offer, a query using a certificate field it did not select,
// unbalanced filters, password-as-attribute against a server that never
// reveals passwords, and a bind DN without a password. Meant for commit validation and the console; the
// authenticator also logs them when a configuration is applied.
import type { ApplianceConfig } from '../../os/config/schema.js';
import { templateProblems } from './query-template.js';
import { passwordAttributeOf } from './server-type.js';

export function authConfigProblems(config: Pick<ApplianceConfig, 'ldap'>): string[] {
  const problems: string[] = [];
  config.ldap.servers.forEach((server, i) => {
    if (server.bindDn && !server.bindPassword) problems.push(`ldap.servers.${i}.bindPassword: required with a bind DN (an empty bind would be anonymous)`);
  });
  config.ldap.queries.forEach((query, i) => {
    const at = `ldap.queries.${i}`;
    if (query.type === 'certificate') {
      for (const p of templateProblems(query.queryString, query.fields)) problems.push(`${at}.queryString: ${p}`);
      return;
    }
    for (const p of templateProblems(query.queryString, ['u', 't'])) problems.push(`${at}.queryString: ${p}`);
    if (query.allowanceQueryString) for (const p of templateProblems(query.allowanceQueryString, ['u', 't'])) problems.push(`${at}.allowanceQueryString: ${p}`);
    const server = config.ldap.servers.find((s) => s.name === query.server);
    if (server && query.method === 'password-attribute' && !passwordAttributeOf(query, server)) {
      problems.push(`${at}.method: an ${server.serverType} server never reveals passwords; use bind, or name the passwordAttribute`);
    }
  });
  return problems;
}
