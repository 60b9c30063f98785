// Route choice: per-domain routes (exact and .subdomain), priorities, values
// with stray spaces (seed 70739), the default route, and MX lookup with its
// fallbacks, answered by a resolver the test controls.
import t from 'tap';
import { type NoRouteError, orderHosts, Router } from '../../src/mail/delivery/routes.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';

const routes = (over: Partial<ApplianceConfig['routes']> = {}): ApplianceConfig['routes'] => ({ smtpRoutes: [], defaultRoute: [], maxQueueHours: 72, ...over });
const mx = (answers: Record<string, { exchange: string; priority: number }[] | string>, rootAnswers = true) => ({
  resolveMx: async (domain: string) => {
    const answer = answers[domain];
    if (typeof answer === 'string') throw Object.assign(new Error(answer), { code: answer });
    return answer ?? [];
  },
  resolveNs: async (_name: string) => {
    if (!rootAnswers) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return ['a.root-servers.net'];
  },
});

t.test('hosts in priority order, ties shuffled, values trimmed', async (t) => {
  const hosts = [
    { host: ' b.example ', port: 25, priority: 10 },
    { host: 'A.example.', port: 2525, priority: 0 },
    { host: 'c.example', port: 25, priority: 10 },
  ];
  t.same(
    orderHosts(hosts, () => 0.5).map((h) => `${h.host}:${h.port}`),
    ['a.example:2525', 'b.example:25', 'c.example:25'],
  );
  let n = 0;
  const reversed = orderHosts(hosts, () => 1 - n++ / 10);
  t.same(
    reversed.map((h) => h.host),
    ['a.example', 'c.example', 'b.example'],
    'equal priorities take turns',
  );
});

t.test('exact route, then the longest .subdomain route, then the default route', async (t) => {
  const router = new Router(
    routes({
      smtpRoutes: [
        { domain: ' Example.org ', hosts: [{ host: 'exact', port: 25, priority: 0 }], tls: 'required-verify' },
        { domain: '.example.org', hosts: [{ host: 'sub', port: 25, priority: 0 }], tls: 'opportunistic' },
        { domain: '.eu.example.org', hosts: [{ host: 'eu', port: 25, priority: 0 }], tls: 'opportunistic' },
      ],
      defaultRoute: [{ host: 'smarthost', port: 587, priority: 0 }],
    }),
    mx({}),
  );
  t.match(await router.resolve('EXAMPLE.ORG'), { key: 'example.org', hops: [{ host: 'exact' }], tls: 'required-verify', via: 'route' });
  t.match(await router.resolve('mail.example.org'), { hops: [{ host: 'sub' }] });
  t.match(await router.resolve('a.eu.example.org'), { hops: [{ host: 'eu' }] });
  t.match(await router.resolve('other.net'), { key: 'default-route', hops: [{ host: 'smarthost', port: 587 }], via: 'default-route' });
});

t.test('MX lookup when no route matches', async (t) => {
  const router = new Router(
    routes(),
    mx({
      'mx.example': [
        { exchange: 'mx2.mx.example', priority: 20 },
        { exchange: 'mx1.mx.example', priority: 10 },
      ],
      'nomx.example': 'ENODATA',
      'null.example': [{ exchange: '', priority: 0 }],
      'gone.example': 'ENOTFOUND',
      'broken.example': 'ESERVFAIL',
    }),
  );
  t.same((await router.resolve('mx.example')).hops, [
    { host: 'mx1.mx.example', port: 25 },
    { host: 'mx2.mx.example', port: 25 },
  ]);
  t.same((await router.resolve('nomx.example')).hops, [{ host: 'nomx.example', port: 25 }], 'no MX: the domain itself (RFC 5321 5.1)');
  const failure = async (domain: string) =>
    router.resolve(domain).then(
      () => undefined,
      (err: NoRouteError) => err,
    );
  t.match(await failure('null.example'), { permanent: true, message: /null MX/ });
  t.match(await failure('gone.example'), { permanent: true, message: /does not exist/ });
  t.match(await failure('broken.example'), { permanent: false, message: /ESERVFAIL/ }, 'a DNS failure is temporary');
});

t.test('"not found" from a resolver that cannot even answer for the root only defers (network down)', async (t) => {
  const router = new Router(routes(), mx({ 'example.com': 'ENOTFOUND' }, false));
  const err = await router.resolve('example.com').then(
    () => undefined,
    (e: NoRouteError) => e,
  );
  t.match(err, { permanent: false, message: /does not exist/ });
});
