// Turns untrusted input (a candidate, a file, a revision) into a valid
// configuration, or an error that lists every problem as "path: reason".

import { migrateConfig } from './migrate.js';
import { referenceProblems } from './references.js';
import { type ApplianceConfig, applianceConfigSchema } from './schema.js';

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    context = 'the configuration is invalid',
  ) {
    super(`${context}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function crossChecks(config: ApplianceConfig): string[] {
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
  const endpoints = new Map<string, string>();
  for (const l of config.listeners) {
    const key = `${l.address}:${l.port}`;
    const other = endpoints.get(key);
    if (other) problems.push(`listener "${l.name}": ${key} is already used by listener "${other}"`);
    endpoints.set(key, l.name);
  }
  return problems;
}

export function parseConfig(input: unknown, context?: string): ApplianceConfig {
  const result = applianceConfigSchema.safeParse(migrateConfig(input));
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`),
      context,
    );
  }
  const problems = [...referenceProblems(result.data), ...crossChecks(result.data)];
  if (problems.length > 0) throw new ConfigError(problems, context);
  return result.data;
}
