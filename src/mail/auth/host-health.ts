// Which LDAP hosts are worth trying: a host that failed is skipped for its
// server's back-off period. When every host is in back-off they are all tried
// anyway, the one whose back-off ends first first, so a directory that comes
// back is used again at once instead of after the back-off.
export class HostHealth {
  private readonly deadUntil = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The hosts to try, in order. */
  order(hosts: string[]): string[] {
    const now = this.now();
    const live = hosts.filter((h) => (this.deadUntil.get(h) ?? 0) <= now);
    if (live.length > 0) return live;
    return [...hosts].sort((a, b) => (this.deadUntil.get(a) ?? 0) - (this.deadUntil.get(b) ?? 0));
  }

  markDead(host: string, backoffSeconds: number): void {
    this.deadUntil.set(host, this.now() + backoffSeconds * 1000);
  }

  markAlive(host: string): void {
    this.deadUntil.delete(host);
  }

  isDead(host: string): boolean {
    return (this.deadUntil.get(host) ?? 0) > this.now();
  }
}
