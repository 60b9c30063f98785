// RFC 4515 escaping of substituted values, {t} as GeneralizedTime, and query
// strings with placeholders their type does not offer.
import { FilterParser } from 'ldapts';
import t from 'tap';
import { escapeFilterValue, generalizedTime } from '../../src/mail/auth/filter-values.js';
import { QueryTemplateError, renderQuery } from '../../src/mail/auth/query-template.js';
import { placeholdersIn, templateProblems } from '../../src/os/config/ldap-query-template.js';

t.test('every filter metacharacter is escaped as \\XX', async (t) => {
  t.equal(escapeFilterValue('EVE*)(uid=*'), 'EVE\\2a\\29\\28uid=\\2a');
  t.equal(escapeFilterValue('a\\b'), 'a\\5cb', 'the backslash itself');
  t.equal(escapeFilterValue('nul\0byte'), 'nul\\00byte');
  t.equal(escapeFilterValue('DOE.JOHN.1234567890'), 'DOE.JOHN.1234567890', 'ordinary values are unchanged');
  t.equal(escapeFilterValue('Müller, Jürgen = ok'), 'Müller, Jürgen = ok', 'UTF-8, commas and = need no escaping in a filter');
  t.equal(escapeFilterValue(''), '');
});

t.test('an injected CN stays one equality assertion', async (t) => {
  const filter = renderQuery('(&(caccn={cn})(cacserial={sn}))', { cn: 'EVE*)(uid=*', sn: '1A2B' });
  t.equal(filter, '(&(caccn=EVE\\2a\\29\\28uid=\\2a)(cacserial=1A2B))');
  const parsed = FilterParser.parseString(filter) as unknown as { filters: { attribute: string; value: string }[] };
  t.equal(parsed.filters.length, 2, 'two assertions, as written by the administrator');
  t.same(
    parsed.filters.map((f) => [f.attribute, f.value]),
    [
      ['caccn', 'EVE*)(uid=*'],
      ['cacserial', '1A2B'],
    ],
    'the CN is compared literally',
  );
  const dn = renderQuery('(issuerDN={issuer})', { issuer: 'CN=DoD (Root) CA 3,O=U.S. Government' });
  t.equal(dn, '(issuerDN=CN=DoD \\28Root\\29 CA 3,O=U.S. Government)', 'an RFC 4514 subject or issuer goes in with its parentheses escaped');
});

t.test('{t} is the current time in GeneralizedTime, UTC, to the second', async (t) => {
  t.equal(generalizedTime(new Date('2026-11-29T17:30:05.987Z')), '20261129173005Z');
  t.equal(generalizedTime(new Date('2030-01-02T03:04:05+02:00')), '20300102010405Z', 'converted to UTC');
  t.throws(() => generalizedTime(new Date('not a date')), RangeError);
  const now = new Date('2026-11-29T00:00:00Z');
  t.equal(
    renderQuery('(&(uid={u})(|(!(caccn=*))(cacexempt=*)(cacemergency>={t})))', { u: 'jdoe', t: generalizedTime(now) }),
    '(&(uid=jdoe)(|(!(caccn=*))(cacexempt=*)(cacemergency>=20261129000000Z)))',
    "the seed's allowance query",
  );
});

t.test('placeholders a query type does not offer are errors, never literal text', async (t) => {
  t.same(placeholdersIn('(&(caccn={cn})(cacserial={sn})(x={cn}))'), ['cn', 'sn']);
  t.throws(() => renderQuery('(mail={email})', { cn: 'x' }), QueryTemplateError);
  t.same(templateProblems('(uid={u})', ['u', 't']), []);
  t.match(templateProblems('(uid={user})', ['u', 't']), [/\{user\} is not available here/]);
  t.match(templateProblems('(uid={u}', ['u']), [/balanced parentheses/]);
  t.match(templateProblems('uid={u}', ['u']), [/balanced parentheses/]);
});

t.test('configuration checks: a certificate query may use only the fields it selected', async (t) => {
  const { authenticationProblems: authConfigProblems } = await import('../../src/os/config/verify.js');
  const { sampleConfig } = await import('../helpers/configs.js');
  const config = sampleConfig();
  t.same(authConfigProblems(config), [], "the seed's queries are fine");
  const cac = config.ldap.queries.find((q) => q.name === 'cac')!;
  cac.queryString = '(&(caccn={cn})(mail={email}))';
  config.ldap.servers[0]!.serverType = 'active-directory';
  config.ldap.servers[0]!.bindDn = 'cn=appliance,dc=example,dc=com';
  const auth = config.ldap.queries.find((q) => q.name === 'auth')!;
  if (auth.type === 'smtp-auth') auth.method = 'password-attribute';
  t.match(authConfigProblems(config), [
    /ldap\.servers\.0\.bindPassword: required with a bind DN/,
    /ldap\.queries\.0\.queryString: \{email\} is not among the query's fields \(cn, sn\)/,
    /ldap\.queries\.1\.method: an active-directory server never reveals passwords/,
  ]);
});
