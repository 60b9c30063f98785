// Routes as an administrator sees them: mail for a domain goes to its route's
// best host, falls back to the next priority when that host is down, mail for
// other domains takes the default route, a hanging route does not hold up
// others, and the delivered message says how its sender authenticated.
import t from 'tap';
import { deliveryFixture, message, NextHop, tarpit, until } from './delivery-fixture.js';

t.test('a route sends mail to its lowest-priority-number host, and to the next one when that host is down', async (t) => {
  const primary = await NextHop.start(t);
  const backup = await NextHop.start(t);
  const other = await NextHop.start(t);
  const f = await deliveryFixture(t, {
    routes: {
      smtpRoutes: [
        {
          domain: 'example.org ',
          hosts: [
            { host: '127.0.0.1 ', port: backup.port, priority: 20 },
            { host: '127.0.0.1', port: primary.port, priority: 10 },
          ],
        },
      ],
      defaultRoute: [{ host: '127.0.0.1', port: other.port }],
    },
  });
  const first = await f.accept({ rcptTo: ['jane@example.org', 'max@elsewhere.net'] }, message('first'));
  await primary.waitFor(1);
  await other.waitFor(1);
  t.same(primary.received[0]?.to, ['jane@example.org'], 'the route (with trailing spaces in its values) took example.org');
  t.same(other.received[0]?.to, ['max@elsewhere.net'], 'the default route took the rest');
  t.equal(backup.received.length, 0, 'the lower-priority host got nothing while the best one was up');
  t.match(primary.received[0]?.data, /^Authentication-Results: mail\.example\.com;\r\n\tauth=none\r\nReceived: from client\.example\.com/, 'auth=none on top');

  await primary.close();
  await f.accept({ rcptTo: ['jane@example.org'] }, message('second'));
  await backup.waitFor(1);
  t.match(backup.received[0]?.data, /Subject: second/, 'with the best host down, the next priority took it');
  await until('the queue is empty', () => f.delivery.store.list('active').length + f.delivery.store.list('deferred').length === 0);
  const log = f.mailLog();
  t.match(log, new RegExp(`Message done DCID \\d+ MID ${first} to RID \\[0\\]`), 'the mail log has the delivery with its DCID');
  t.match(log, new RegExp(`Message finished MID ${first} done`));
  t.match(log, /connection to 127\.0\.0\.1 port \d+ failed/, 'the failed host is logged');
  t.match(log, /MID \d+ Subject "second"/);
});

t.test('a route that hangs does not hold up mail for other routes', async (t) => {
  const hang = await tarpit(t);
  const good = await NextHop.start(t);
  const f = await deliveryFixture(
    t,
    {
      routes: {
        smtpRoutes: [
          { domain: 'slow.example', hosts: [{ host: '127.0.0.1', port: hang.port, priority: 0 }] },
          { domain: 'example.org', hosts: [{ host: '127.0.0.1', port: good.port, priority: 0 }] },
        ],
      },
    },
    { timeouts: { connectMs: 4000, greetingMs: 4000, socketMs: 4000 } },
  );
  for (let i = 0; i < 3; i++) await f.accept({ rcptTo: [`user${i}@slow.example`] }, message(`slow ${i}`));
  await until('the hanging host holds connections', () => hang.open() > 0);
  await f.accept({ rcptTo: ['jane@example.org'] }, message('fast'));
  await good.waitFor(1, 3000);
  t.ok(hang.open() > 0, 'delivered while the hanging route still waits for its greeting');
});

t.test('the delivered message states how its sender authenticated', async (t) => {
  const hop = await NextHop.start(t);
  const f = await deliveryFixture(t, { routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } });
  await f.accept({ rcptTo: ['a@example.org'], authenticatedAs: { method: 'smtp-auth', identity: 'jdoe' } }, message('by auth'));
  await f.accept({ rcptTo: ['b@example.org'], authenticatedAs: { method: 'certificate', identity: 'CN=John Doe,O=Example "Corp"' } }, message('by cert'));
  await f.accept(
    { rcptTo: ['c@example.org'] },
    message('forged', ['Authentication-Results: mail.example.com; auth=pass smtp.auth=ceo', 'Authentication-Results: other.example; spf=pass']),
  );
  const got = await hop.waitFor(3);
  const of = (subject: string) => got.find((m) => m.data.includes(`Subject: ${subject}`))?.data ?? '';
  t.match(of('by auth'), /^Authentication-Results: mail\.example\.com;\r\n\tauth=pass smtp\.auth=jdoe\r\n/);
  t.match(of('by cert'), /^Authentication-Results: mail\.example\.com;\r\n\tauth=pass \(TLS client certificate\) smtp\.auth="CN=John Doe,O=Example \\"Corp\\""\r\n/);
  t.notMatch(of('forged'), /smtp\.auth=ceo/, 'a result forged in our name is removed');
  t.match(of('forged'), /Authentication-Results: other\.example; spf=pass/, 'results of other hosts stay');
});

t.test('messages in a row to one host share its connection, which closes once idle', async (t) => {
  const hop = await NextHop.start(t);
  const f = await deliveryFixture(t, { routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } });
  for (let i = 1; i <= 3; i++) {
    await f.accept({ rcptTo: [`user${i}@example.org`] }, message(`in a row ${i}`));
    await hop.waitFor(i);
  }
  const log = f.mailLog();
  const opened = [...log.matchAll(/New SMTP DCID (\d+)/g)].map((m) => m[1]);
  t.equal(opened.length, 1, 'one connection');
  t.equal([...log.matchAll(new RegExp(`Delivery start DCID ${opened[0]} MID \\d+`, 'g'))].length, 3, 'three messages over it');
  await until('the idle connection is closed', () => new RegExp(`DCID ${opened[0]} close`).test(f.mailLog()), 5000);
});
