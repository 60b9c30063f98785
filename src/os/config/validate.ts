// Turns untrusted input (a candidate, a file, a revision) into a configuration of
// the right shape whose names all resolve, or an error that lists every problem as
// "path: reason". Each feature's rules across fields run at commit (verify.ts).

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

export function parseConfig(input: unknown, context?: string): ApplianceConfig {
  const result = applianceConfigSchema.safeParse(migrateConfig(input));
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`),
      context,
    );
  }
  const problems = referenceProblems(result.data);
  if (problems.length > 0) throw new ConfigError(problems, context);
  return result.data;
}
