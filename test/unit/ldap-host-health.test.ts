// Dead-host back-off: a failed host is skipped until its back-off ends; when
// every host is in back-off all are tried, soonest-back first.
import t from 'tap';
import { HostHealth } from '../../src/mail/auth/host-health.js';

t.test('skip, expire and last resort', async (t) => {
  let now = 1_000_000;
  const health = new HostHealth(() => now);
  const hosts = ['ldap1', 'ldap2', 'ldap3'];
  t.same(health.order(hosts), hosts, 'configured order while all are alive');
  health.markDead('ldap1', 60);
  t.same(health.order(hosts), ['ldap2', 'ldap3'], 'a dead host is skipped');
  now += 59_000;
  t.ok(health.isDead('ldap1'));
  now += 1_000;
  t.same(health.order(hosts), hosts, 'and tried again when its back-off ends');
  health.markDead('ldap2', 30);
  health.markDead('ldap3', 10);
  health.markDead('ldap1', 20);
  t.same(health.order(hosts), ['ldap3', 'ldap1', 'ldap2'], 'all dead: all tried, the one back soonest first');
  health.markAlive('ldap2');
  t.same(health.order(hosts), ['ldap2'], 'a host that answered is alive again');
});
