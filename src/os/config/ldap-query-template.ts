// The grammar of an LDAP query string: placeholders ({cn}, {u}, …) inside one
// filter in balanced parentheses. Commit checks (verify.ts) use it; rendering with
// escaped values is the LDAP client's (src/mail/auth/query-template.ts).
export const placeholderPattern = /\{([A-Za-z]+)\}/g;

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
