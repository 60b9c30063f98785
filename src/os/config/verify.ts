// Each feature's configuration rules that the schema cannot express, one `verify`
// per section (as VyOS verifies each feature): run at every commit, before anything
// is written, so a configuration that a service would refuse at first use is never
// committed. The schema (schema.ts) and the reference table (references.ts) check
// shape and names; these check meaning across fields.
import { urlRefusal } from '../fetch.js';
import { templateProblems } from './ldap-query-template.js';
import { passwordAttributeOf } from './ldap-server-type.js';
import { type ApplianceConfig, certificateFields } from './schema.js';
import { ConfigError } from './validate.js';

type Verify = (config: ApplianceConfig) => string[];

function verifyListeners(config: Pick<ApplianceConfig, 'listeners'>): string[] {
  const problems: string[] = [];
  const endpoints = new Map<string, string>();
  for (const l of config.listeners) {
    const key = `${l.address}:${l.port}`;
    const other = endpoints.get(key);
    if (other) problems.push(`listener "${l.name}": ${key} is already used by listener "${other}"`);
    endpoints.set(key, l.name);
  }
  return problems;
}

function verifyLdap(config: Pick<ApplianceConfig, 'ldap'>): string[] {
  const problems: string[] = [];
  config.ldap.servers.forEach((server, i) => {
    if (server.bindDn && !server.bindPassword) problems.push(`ldap.servers.${i}.bindPassword: required with a bind DN (an empty bind would be anonymous)`);
  });
  config.ldap.queries.forEach((query, i) => {
    const at = `ldap.queries.${i}`;
    if (query.type === 'certificate') {
      problems.push(...certificatePlaceholderProblems(query.queryString, query.fields).map((p) => `${at}.queryString: ${p}`));
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

/** A certificate query may use only certificate fields, and only those it selected. */
function certificatePlaceholderProblems(queryString: string, fields: readonly string[]): string[] {
  return templateProblems(queryString, certificateFields).concat(
    templateProblems(queryString, fields)
      .filter((p) => p.startsWith('{'))
      .map((p) => p.slice(0, p.indexOf('}') + 1))
      .filter((placeholder) => (certificateFields as readonly string[]).includes(placeholder.slice(1, -1)))
      .map((placeholder) => `${placeholder} is not among the query's fields (${fields.join(', ')}): add ${placeholder.slice(1, -1)} to fields, or leave it out of the query`),
  );
}

/** The fetch module's own rule (src/os/fetch.ts): what commits is what can be fetched. */
function verifyCrl(config: Pick<ApplianceConfig, 'crl'>): string[] {
  return config.crl.sources.flatMap((source, i) =>
    (['primaryUrl', 'secondaryUrl'] as const).flatMap((field) => {
      const url = source[field];
      const refusal = url === undefined ? undefined : urlRefusal(url);
      return refusal ? [`crl.sources.${i}.${field}: must be an http or https URL: ${refusal}`] : [];
    }),
  );
}

function verifySmtpAuth(config: Pick<ApplianceConfig, 'ldap' | 'smtpAuth'>): string[] {
  const problems: string[] = [];
  const queries = new Map(config.ldap.queries.map((q) => [q.name, q]));
  const profiles = new Map(config.smtpAuth.profiles.map((p) => [p.name, p]));
  config.smtpAuth.profiles.forEach((p, i) => {
    const at = `smtpAuth.profiles.${i}`;
    if (p.type === 'ldap') {
      const q = queries.get(p.query);
      if (q && q.type !== 'smtp-auth') problems.push(`${at}.query: "${p.query}" is a certificate query; an LDAP profile needs an SMTP Authentication query`);
      if (p.checkAllowance && q?.type === 'smtp-auth' && !q.allowanceQueryString) {
        problems.push(`${at}.checkAllowance: query "${p.query}" has no allowance query string`);
      }
      if (p.customResponse && !p.checkAllowance) problems.push(`${at}.customResponse: only used when checkAllowance is on`);
    } else {
      const q = queries.get(p.certificateQuery);
      if (q && q.type !== 'certificate') problems.push(`${at}.certificateQuery: "${p.certificateQuery}" is not a Certificate Authentication query`);
      if (p.allowSmtpAuthFallback && !p.fallbackProfile) problems.push(`${at}.fallbackProfile: required when allowSmtpAuthFallback is on`);
      const fallback = p.fallbackProfile ? profiles.get(p.fallbackProfile) : undefined;
      if (fallback && fallback.type !== 'ldap') problems.push(`${at}.fallbackProfile: "${fallback.name}" must be an LDAP profile`);
    }
  });
  return problems;
}

/** The verify of each section that has rules beyond its schema. */
export const sectionVerifiers: Partial<Record<keyof ApplianceConfig, Verify>> = {
  listeners: verifyListeners,
  ldap: verifyLdap,
  smtpAuth: verifySmtpAuth,
  crl: verifyCrl,
};

/** Every section's problems, as "path: reason". */
export function configProblems(config: ApplianceConfig): string[] {
  return Object.values(sectionVerifiers).flatMap((verify) => verify(config));
}

/** The LDAP and SMTP authentication sections' problems (the authenticator logs them for a revision committed before a rule existed). */
export function authenticationProblems(config: Pick<ApplianceConfig, 'ldap' | 'smtpAuth'>): string[] {
  return [...verifyLdap(config), ...verifySmtpAuth(config)];
}

/** Throws a ConfigError listing every problem; what commit runs. */
export function verifyConfig(config: ApplianceConfig, context: string): ApplianceConfig {
  const problems = configProblems(config);
  if (problems.length > 0) throw new ConfigError(problems, context);
  return config;
}
