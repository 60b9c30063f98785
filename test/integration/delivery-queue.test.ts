// The queue commands as an administrator uses them on a queue whose next hop
// keeps deferring: count, list, show, flush, delete and bounce by MID or by
// recipient. The commands run on their own QueueCommands, as the console would.
// And alerts, which reach their recipients by mail.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { QueueCommands } from '../../src/mail/delivery/queue-commands.js';
import { Alerts } from '../../src/os/alerts.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { createLogger } from '../../src/os/logging/logger.js';
import { LogSubscriptions } from '../../src/os/logging/subscriptions.js';
import { tempState } from '../helpers/state.js';
import { deliveryFixture, message, NextHop, until } from './delivery-fixture.js';

t.test('queue commands on deferred mail', async (t) => {
  const hop = await NextHop.start(t);
  const senders = await NextHop.start(t);
  let attempts = 0;
  hop.rcpt = () => {
    attempts++;
    return { code: 451, message: '4.7.1 greylisted' };
  };
  const f = await deliveryFixture(
    t,
    {
      routes: {
        smtpRoutes: [
          { domain: 'example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
          { domain: 'example.com', hosts: [{ host: '127.0.0.1', port: senders.port, priority: 0 }] },
        ],
      },
    },
    { retry: { firstMs: 600_000, maxMs: 600_000 } },
  );
  const queue = new QueueCommands(f.spoolDir);
  const a = await f.accept({ rcptTo: ['jane@example.org', 'max@example.org'] }, message('first'));
  const b = await f.accept({ rcptTo: ['jane@example.org'] }, message('second'));
  const c = await f.accept({ rcptTo: ['max@example.org'] }, message('third'));
  await until('all three are deferred', () => queue.count().deferred === 3);
  t.same(queue.count(), { incoming: 0, active: 0, deferred: 3 });

  const listed = await queue.list();
  t.same(
    listed.map((e) => [e.mid, e.state, e.subject]),
    [
      [a, 'deferred', 'first'],
      [b, 'deferred', 'second'],
      [c, 'deferred', 'third'],
    ],
  );
  const shown = await queue.show(a);
  t.same(
    shown?.status?.recipients.map((r) => [r.address, r.state, r.reply]),
    [
      ['jane@example.org', 'pending', '451 4.7.1 greylisted'],
      ['max@example.org', 'pending', '451 4.7.1 greylisted'],
    ],
  );
  t.equal(shown?.status?.attempts, 1);
  t.equal(await queue.show(999), undefined, 'an unknown MID shows nothing');

  const before = attempts;
  queue.flush();
  await until('the flush made new attempts', () => attempts >= before + 4);
  t.pass('flush retried every deferred message at once, back-off notwithstanding');

  queue.delete({ recipient: 'max@example.org' });
  await until('max is gone', () => f.delivery.store.find(c) === undefined);
  t.equal(await queue.show(c), undefined, 'the message only for max is gone');
  t.same(
    (await queue.show(a))?.status?.recipients.map((r) => r.state),
    ['pending', 'deleted'],
    'the shared message keeps its other recipient',
  );

  queue.bounce({ mid: b });
  const [dsn] = await senders.waitFor(1);
  t.match(dsn?.data, /Final-Recipient: rfc822; jane@example\.org\r\nAction: failed\r\nStatus: 5\.0\.0/);
  await until('b is gone', () => f.delivery.store.find(b) === undefined);

  queue.delete({ mid: a });
  await until('the queue is empty', () => f.delivery.store.find(a) === undefined);
  t.same(queue.count(), { incoming: 0, active: 0, deferred: 0 });
  t.equal(senders.received.length, 1, 'delete sends no bounce');
  t.throws(() => queue.delete({}), /needs a MID or a recipient/);
  t.match(f.mailLog(), new RegExp(`MID ${c} RID 0 deleted by the administrator`));
});

t.test('alerts are mailed to their recipients', async (t) => {
  const hop = await NextHop.start(t);
  const root = tempState(t, 'appliance-alerts-');
  const outbox = join(root, 'alerts', 'outbox');
  const config = parseConfig({
    system: { hostname: 'mail.example.com' },
    alerts: { fromAddress: 'appliance@example.com', recipients: [{ address: 'admin@example.org', severities: ['critical'] }] },
  });
  const logs = new LogSubscriptions(join(root, 'logs'), []);
  const alerts = new Alerts(config, logs, createLogger('test', 'silent'), outbox);
  alerts.raise({ severity: 'critical', class: 'fips', subject: 'HSM power-on self-test failed', detail: 'the token did not answer' });
  alerts.raise({ severity: 'information', class: 'system', subject: 'nobody takes this one' });
  const f = await deliveryFixture(t, { alerts: config.alerts, routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } }, { alertOutbox: outbox, alertScanMs: 100 });
  const [mail] = await hop.waitFor(1);
  t.same(mail?.to, ['admin@example.org']);
  t.equal(mail?.from, 'appliance@example.com');
  t.match(mail?.data, /Subject: \[critical\] mail\.example\.com: HSM power-on self-test failed/);
  t.match(mail?.data, /the token did not answer/);
  t.notMatch(mail?.data, /Authentication-Results/, 'mail the appliance made carries no authentication result');
  await until('the outbox is empty', () => readdirSync(outbox).filter((n) => n.endsWith('.json')).length === 0);
  t.match(f.mailLog(), /MID \d+ alert "HSM power-on self-test failed" queued for <admin@example\.org>/);
  logs.close();
});

t.test('an unreadable queue file is set aside in corrupt/, and the rest of the queue flows', async (t) => {
  const hop = await NextHop.start(t);
  const f = await deliveryFixture(t, { routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } });
  writeFileSync(join(f.spoolDir, 'incoming', '55.msg'), 'this is not an envelope\r\nSubject: x\r\n\r\nbody\r\n');
  await f.accept({ rcptTo: ['jane@example.org'] }, message('fine'));
  await hop.waitFor(1);
  await until('the bad file is in corrupt/', () => readdirSync(join(f.spoolDir, 'corrupt')).includes('55.msg'));
  t.equal(f.delivery.store.find(55), undefined, 'no longer in the queue');
  t.match(f.mailLog(), /MID 55 moved to the corrupt queue: queue file 55 has an unreadable envelope/);
});
