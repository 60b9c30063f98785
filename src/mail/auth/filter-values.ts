// Values as they go into an LDAP search filter: every substituted value is
// escaped as RFC 4515 section 3 requires, and {t} is the current time as an
// LDAP GeneralizedTime (RFC 4517 3.3.13), in UTC, to the second.

/**
 * Escapes an assertion value: `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`,
 * `\29`, `\5c`, `\00`. Other bytes (UTF-8 included) are left as they are, which
 * RFC 4515 allows; a certificate CN such as `EVE*)(uid=*` then matches only
 * that literal text.
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `20261129173000Z`: what `cacemergency>={t}` compares with. */
export function generalizedTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid date');
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}
