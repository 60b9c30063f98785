// A query string with placeholders ({cn}, {sn}, {subject}, {issuer}, {email},
// {upn} for certificate queries; {u} and {t} for SMTP authentication queries)
// turned into the filter sent to the directory. Every value is RFC 4515-escaped;
// a placeholder the query type does not offer is an error, never left as text.
import { escapeFilterValue } from './filter-values.js';

export class QueryTemplateError extends Error {
  override name = 'QueryTemplateError';
}

const placeholderPattern = /\{([A-Za-z]+)\}/g;

/** The placeholders a query string uses, in order of first appearance. */
export function placeholdersIn(template: string): string[] {
  return [...new Set([...template.matchAll(placeholderPattern)].map((m) => m[1]!))];
}

/** Problems with a query string for the placeholders its type offers: unknown ones, unbalanced parentheses. */
export function templateProblems(template: string, offered: readonly string[]): string[] {
  const problems = placeholdersIn(template)
    .filter((p) => !offered.includes(p))
    .map((p) => `{${p}} is not available here (use ${offered.map((o) => `{${o}}`).join(', ')})`);
  let depth = 0;
  for (const c of template.replace(/\\./g, '')) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0 || !template.trim().startsWith('(')) problems.push('the query string must be one filter in balanced parentheses, e.g. (uid={u})');
  return problems;
}

/** Substitutes escaped values for the placeholders. */
export function renderQuery(template: string, values: Record<string, string>): string {
  return template.replace(placeholderPattern, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new QueryTemplateError(`the query string uses ${whole}, which is not available here`);
    return escapeFilterValue(value);
  });
}
