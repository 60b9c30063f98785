// A query string with placeholders ({cn}, {sn}, {subject}, {issuer}, {email},
// {upn} for certificate queries; {u} and {t} for SMTP authentication queries)
// turned into the filter sent to the directory. Every value is RFC 4515-escaped;
// a placeholder the query type does not offer is an error, never left as text.
import { placeholderPattern } from '../../os/config/ldap-query-template.js';
import { escapeFilterValue } from './filter-values.js';

export class QueryTemplateError extends Error {
  override name = 'QueryTemplateError';
}

/** Substitutes escaped values for the placeholders. */
export function renderQuery(template: string, values: Record<string, string>): string {
  return template.replace(placeholderPattern, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new QueryTemplateError(`the query string uses ${whole}, which is not available here`);
    return escapeFilterValue(value);
  });
}
