// The fetch module's pure decisions (src/os/fetch.ts) as tables: which URLs are
// fetched, and what happens to each redirect.
import t from 'tap';
import { defaultMaxRedirects, redirectDecision, urlRefusal } from '../../src/os/fetch.js';

t.test('only http and https URLs with a host and no credentials are fetched', async (t) => {
  const table: [string, RegExp | undefined][] = [
    ['http://crl.example.com/certs.crl', undefined],
    ['https://crl.example.com/certs.crl', undefined],
    ['HTTPS://CRL.EXAMPLE.COM:8443/a/b.crl?x=1', undefined],
    ['http://127.0.0.1:8080/x', undefined],
    ['http://[::1]/x', undefined],
    ['file:///var/lib/appliance/hsm/crypto-user.pin', /only http and https URLs are fetched, not file:/],
    ['file:///dev/zero', /not file:/],
    ['FILE:///etc/shadow', /not file:/],
    ['ftp://ftp.example.com/x.crl', /not ftp:/],
    ['data:application/pkix-crl;base64,MAA=', /not data:/],
    ['gopher://127.0.0.1:25/_HELO', /not gopher:/],
    ['ldap://ldap.example.com/cn=CA?certificateRevocationList', /not ldap:/],
    ['javascript:alert(1)', /not javascript:/],
    ['/etc/shadow', /it is not a URL/],
    ['crl.example.com/certs.crl', /it is not a URL/],
    ['', /it is not a URL/],
    ['http://user:secret@crl.example.com/x', /user name or password/],
    ['https://user@crl.example.com/x', /user name or password/],
  ];
  for (const [url, refusal] of table) {
    const got = urlRefusal(url);
    if (refusal) t.match(got, refusal, `${url || '(empty)'} is refused`);
    else t.equal(got, undefined, `${url} is fetched`);
  }
});

t.test('redirects: followed within the rules, refused with a reason otherwise', async (t) => {
  const from = new URL('http://crl.example.com/pki/certs.crl');
  const secure = new URL('https://crl.example.com/pki/certs.crl');
  const one = [from.href];
  const table: [string, URL, number, string | undefined, string[], string | RegExp][] = [
    // what, from, status, Location, visited so far, → follow (href) or refusal
    ['relative path', from, 302, 'other.crl', one, 'http://crl.example.com/pki/other.crl'],
    ['absolute path', from, 301, '/mirror/certs.crl', one, 'http://crl.example.com/mirror/certs.crl'],
    ['another host', from, 307, 'http://mirror.example.net/certs.crl', one, 'http://mirror.example.net/certs.crl'],
    ['http to https', from, 308, 'https://crl.example.com/pki/certs.crl', one, 'https://crl.example.com/pki/certs.crl'],
    ['303 see other', from, 303, 'https://crl.example.com/x', one, 'https://crl.example.com/x'],
    ['scheme-relative stays https', secure, 302, '//mirror.example.net/a.crl', [secure.href], 'https://mirror.example.net/a.crl'],
    [
      'file: secret',
      from,
      302,
      'file:///var/lib/appliance/hsm/crypto-user.pin',
      one,
      /refused the redirect to file:\/\/\/var\/lib\/appliance\/hsm\/crypto-user\.pin: only http and https/,
    ],
    ['file: /dev/zero', from, 302, 'file:///dev/zero', one, /not file:/],
    ['file: without slashes', from, 302, 'file:/etc/shadow', one, /not file:/],
    ['ftp', from, 301, 'ftp://ftp.example.com/certs.crl', one, /not ftp:/],
    ['data', from, 302, 'data:text/plain,hello', one, /not data:/],
    ['gopher', from, 302, 'gopher://127.0.0.1:6379/_INFO', one, /not gopher:/],
    ['credentials', from, 302, 'http://admin:pw@10.0.0.1/', one, /user name or password/],
    [
      'https down to http',
      secure,
      302,
      'http://crl.example.com/pki/certs.crl',
      [secure.href],
      /from https to http:\/\/crl\.example\.com\/pki\/certs\.crl: a fetch that starts on https stays on https/,
    ],
    ['loop to itself', from, 302, from.href, one, /redirect loop: http:\/\/crl\.example\.com\/pki\/certs\.crl was already fetched/],
    ['loop back to the start', new URL('http://crl.example.com/b'), 302, '/pki/certs.crl', [from.href, 'http://crl.example.com/b'], /redirect loop/],
    ['no Location', from, 302, undefined, one, /HTTP status 302 without a Location/],
    ['empty Location', from, 302, '', one, /without a Location/],
    ['a Location that is not a URL', from, 302, 'http://[not-an-ip/', one, /redirects to something that is not a URL/],
    ['300 multiple choices', from, 300, 'other.crl', one, /HTTP status 300 is not a redirect that is followed/],
    ['304 not modified', from, 304, 'other.crl', one, /HTTP status 304 is not a redirect/],
    ['305 use proxy', from, 305, 'http://proxy.example.com/', one, /HTTP status 305 is not a redirect/],
  ];
  for (const [what, origin, status, location, visited, expected] of table) {
    const decision = redirectDecision(origin, status, location, visited);
    if (typeof expected === 'string') t.same(decision, { follow: new URL(expected) }, `${what}: followed`);
    else t.match('refuse' in decision ? decision.refuse : `followed to ${decision.follow.href}`, expected, `${what}: refused`);
  }
});

t.test(`at most ${defaultMaxRedirects} redirects`, async (t) => {
  const chain = (n: number) => Array.from({ length: n }, (_, i) => `http://crl.example.com/${i}`);
  const from = (n: number) => new URL(`http://crl.example.com/${n - 1}`);
  t.same(redirectDecision(from(5), 302, '/next', chain(5)), { follow: new URL('http://crl.example.com/next') }, 'the 5th redirect is followed');
  t.match(redirectDecision(from(6), 302, '/next', chain(6)), { refuse: /more than 5 redirects \(the last one to http:\/\/crl\.example\.com\/next\)/ }, 'the 6th is refused');
  t.match(redirectDecision(from(2), 302, '/next', chain(2), 1), { refuse: /more than 1 redirects/ }, 'the limit can be lowered');
});
