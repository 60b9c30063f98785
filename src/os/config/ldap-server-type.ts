// What an LDAP server type implies when a query leaves it unset: part of the
// configuration's meaning, so commit checks (verify.ts) and the LDAP client share it.
import type { ApplianceConfig } from './schema.js';

export type LdapServer = ApplianceConfig['ldap']['servers'][number];
export type LdapQuery = ApplianceConfig['ldap']['queries'][number];
export type CertificateQuery = Extract<LdapQuery, { type: 'certificate' }>;
export type SmtpAuthQuery = Extract<LdapQuery, { type: 'smtp-auth' }>;

interface TypeDefaults {
  userIdAttribute: string;
  /** Undefined where the directory never reveals passwords: only LDAP Bind works. */
  passwordAttribute: string | undefined;
  defaultPort: { plain: number; ldaps: number };
}

const defaults: Record<LdapServer['serverType'], TypeDefaults> = {
  openldap: { userIdAttribute: 'uid', passwordAttribute: 'userPassword', defaultPort: { plain: 389, ldaps: 636 } },
  'oracle-directory': { userIdAttribute: 'uid', passwordAttribute: 'userPassword', defaultPort: { plain: 389, ldaps: 636 } },
  'active-directory': { userIdAttribute: 'sAMAccountName', passwordAttribute: undefined, defaultPort: { plain: 389, ldaps: 636 } },
};

export function serverTypeDefaults(type: LdapServer['serverType']): TypeDefaults {
  return defaults[type];
}

export function portOf(server: LdapServer): number {
  const d = defaults[server.serverType].defaultPort;
  return server.port ?? (server.security === 'ldaps' ? d.ldaps : d.plain);
}

export function userIdAttributeOf(query: CertificateQuery, server: LdapServer): string {
  return query.userIdAttribute ?? defaults[server.serverType].userIdAttribute;
}

export function passwordAttributeOf(query: SmtpAuthQuery, server: LdapServer): string | undefined {
  return query.passwordAttribute ?? defaults[server.serverType].passwordAttribute;
}
