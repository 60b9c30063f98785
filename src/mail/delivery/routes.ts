// Where mail for a domain goes: the SMTP route for the domain (exact, or
// `.example.com` for its subdomains), else the default route, else the
// domain's MX hosts (RFC 5321 5.1: no MX means the domain's own address; a
// null MX "." means the domain takes no mail). Every value is trimmed and
// lower-cased before use, so a stray space never breaks a route (seed 70739).
import { promises as dns } from 'node:dns';
import type { ApplianceConfig } from '../../os/config/schema.js';
import { normalDomain } from '../address.js';

export interface NextHop {
  host: string;
  port: number;
}

export interface Destination {
  /** What the route was chosen for: the recipient domain, or the route's key. */
  key: string;
  hops: NextHop[];
  tls: 'opportunistic' | 'required-verify';
  via: 'route' | 'default-route' | 'mx';
}

export class NoRouteError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

type RouteHost = ApplianceConfig['routes']['defaultRoute'][number];
const clean = normalDomain;

/** Lower priority number first (like MX preference); hosts of equal priority in random order, to spread the load. */
export function orderHosts(hosts: RouteHost[], random = Math.random): NextHop[] {
  return hosts
    .map((h) => ({ host: clean(h.host), port: h.port ?? 25, priority: h.priority ?? 0, tiebreak: random() }))
    .filter((h) => h.host !== '')
    .sort((a, b) => a.priority - b.priority || a.tiebreak - b.tiebreak)
    .map(({ host, port }) => ({ host, port }));
}

export type MxResolver = Pick<typeof dns, 'resolveMx' | 'resolveNs'>;

export class Router {
  constructor(
    private readonly routes: ApplianceConfig['routes'],
    private readonly resolver: MxResolver = dns,
  ) {}

  /** The route key for a domain: recipients with the same key travel together on one connection. */
  match(domain: string): ApplianceConfig['routes']['smtpRoutes'][number] | undefined {
    const d = clean(domain);
    const exact = this.routes.smtpRoutes.find((r) => clean(r.domain) === d);
    if (exact) return exact;
    return this.routes.smtpRoutes.filter((r) => clean(r.domain).startsWith('.') && d.endsWith(clean(r.domain))).sort((a, b) => b.domain.trim().length - a.domain.trim().length)[0];
  }

  private async resolverWorks(): Promise<boolean> {
    try {
      return (await this.resolver.resolveNs('.')).length > 0;
    } catch {
      return false;
    }
  }

  async resolve(domain: string): Promise<Destination> {
    const d = clean(domain);
    const route = this.match(d);
    if (route) return { key: clean(route.domain), hops: orderHosts(route.hosts), tls: route.tls, via: 'route' };
    if (this.routes.defaultRoute.length > 0) return { key: 'default-route', hops: orderHosts(this.routes.defaultRoute), tls: 'opportunistic', via: 'default-route' };
    let mx: { exchange: string; priority: number }[];
    try {
      mx = await this.resolver.resolveMx(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // NXDOMAIN bounces, but only from a resolver that answers for the root: a resolver with no
      // upstream (network down) can say "not found" for every name, and that must only defer.
      if (code === 'ENOTFOUND') throw new NoRouteError(`domain ${d} does not exist`, await this.resolverWorks());
      if (code !== 'ENODATA') throw new NoRouteError(`MX lookup for ${d} failed: ${code ?? (err as Error).message}`, false);
      mx = [];
    }
    if (mx.length === 1 && clean(mx[0]?.exchange ?? '') === '') throw new NoRouteError(`domain ${d} accepts no mail (null MX)`, true);
    const hosts = mx.length > 0 ? mx.map((m) => ({ host: m.exchange, port: 25, priority: m.priority })) : [{ host: d, port: 25, priority: 0 }];
    return { key: d, hops: orderHosts(hosts), tls: 'opportunistic', via: 'mx' };
  }
}
