// The monitoring operations of the administration core, as both front ends call
// them: the queue, message tracking, the report and log tails read for every
// role; changing the queue needs an operator; bad input is refused with what to do.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import type { Actor } from '../../src/admin/actor.js';
import { tailLog } from '../../src/admin/logs.js';
import { queueBounce, queueCounts, queueDelete, queueFlush, queueList, queueShow } from '../../src/admin/queue.js';
import { authReport, authReportCsv } from '../../src/admin/report.js';
import { systemStatus } from '../../src/admin/system.js';
import { findMessageEvents } from '../../src/admin/tracking.js';
import { AuthReportStore, authReportPath } from '../../src/mail/auth/report-store.js';
import { Spool } from '../../src/mail/spool.js';
import { openRuntime } from '../../src/os/runtime.js';
import { tempState } from '../helpers/state.js';

const as = (role: Actor['role']): Actor => ({ user: `a-${role}`, role, source: 'web', from: '192.0.2.9' });
const [readOnly, operator, admin] = [as('read-only'), as('operator'), as('admin')];

async function appliance(t: Test) {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  await new Spool(join(root, 'spool')).accept(
    'Received: from test\r\n',
    Readable.from([Buffer.from('Subject: quarterly figures\r\n\r\nhello\r\n')]),
    {
      mid: 4242,
      icid: 7,
      listener: 'Outgoing',
      mailFrom: 'john.doe@example.com',
      rcptTo: ['jane.roe@example.org'],
      clientAddress: '192.0.2.5',
      receivedAt: new Date().toISOString(),
    },
    100_000,
  );
  return { root, runtime };
}

t.test('the queue: every role reads it, only an operator or admin changes it', async (t) => {
  const { root, runtime } = await appliance(t);
  t.equal(queueCounts(runtime, readOnly).incoming, 1);
  t.match(await queueList(runtime, readOnly), [{ mid: 4242, subject: 'quarterly figures', envelope: { rcptTo: ['jane.roe@example.org'] } }]);
  t.match(await queueShow(runtime, readOnly, 4242), { mid: 4242, state: 'incoming' });
  await t.rejects(queueShow(runtime, readOnly, 1), { kind: 'not-found', message: /no message with MID 1/ });
  const requests = join(root, 'spool', 'requests');
  for (const change of [() => queueDelete(runtime, readOnly, { mid: 4242 }), () => queueBounce(runtime, readOnly, { mid: 4242 }), () => queueFlush(runtime, readOnly)]) {
    t.throws(change, { kind: 'forbidden', message: /./ }, 'read-only may not change the queue');
  }
  t.notOk(existsSync(requests) && readdirSync(requests).length > 0, 'and no request was left');
  t.throws(() => queueDelete(runtime, operator, { mid: -1 }), { kind: 'invalid', message: /./ });
  t.throws(() => queueBounce(runtime, operator, { recipient: 'not an address' }), { kind: 'invalid', message: /./ });
  queueDelete(runtime, operator, { mid: 4242 });
  queueFlush(runtime, admin);
  t.equal(readdirSync(requests).length, 2, 'the operator and the admin left their requests for the delivery service');
  await t.rejects(queueList(runtime, readOnly, 'nowhere' as never), { kind: 'invalid', message: /./ });
});

t.test('message tracking finds every event of a message, in the order logged', async (t) => {
  const { runtime } = await appliance(t);
  runtime.logs.write('mail', 'info', 'Start MID 4242 ICID 7');
  runtime.logs.write('mail', 'info', 'MID 42 ICID 8 From: <someone@example.com>');
  runtime.logs.write('mail', 'info', 'MID 4242: delivered');
  const events = await findMessageEvents(runtime, readOnly, { mid: 4242 });
  t.same(
    events.map((e) => e.text),
    ['Start MID 4242 ICID 7', 'MID 4242: delivered'],
  );
  t.match(events[0]!.time, /^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}$/, 'the time of each event, apart from its text');
  t.match(events[0]!.line, /Start MID 4242 ICID 7$/);
  await t.rejects(findMessageEvents(runtime, readOnly, {}), { kind: 'invalid', message: /one of: MID, sender, recipient or subject/ });
  await t.rejects(findMessageEvents(runtime, readOnly, { mid: 1, sender: 'a@b' }), { kind: 'invalid', message: /./ });
  await t.rejects(findMessageEvents(runtime, readOnly, { mid: 1.5 }), { kind: 'invalid', message: /./ });
  await t.rejects(findMessageEvents(runtime, readOnly, { mid: 1 }, 'nosuch'), { kind: 'not-found', message: /./ });
});

t.test('the report: totals, chart buckets and rows for every role, CSV named for its range', async (t) => {
  const { root, runtime } = await appliance(t);
  const store = new AuthReportStore(authReportPath(root));
  store.record('certificate_ok', { user: 'jdoe', domain: 'example.com', ip: '10.0.0.1' });
  store.record('auth_failed', { user: 'mallory', domain: 'evil.example', ip: '10.0.0.2' });
  store.close();
  const report = authReport(runtime, readOnly, { range: 'hour', groupBy: 'user' });
  t.match(report.totals, { certificate_ok: 1, auth_failed: 1 });
  t.equal(report.series.times.length, 60);
  t.equal(report.series.counters.certificate_ok.at(-1), 1, 'the event is in the current minute');
  t.same(report.rows.map((r) => r.key).sort(), ['jdoe', 'mallory']);
  const { fileName, csv } = authReportCsv(runtime, readOnly, { range: 'day', groupBy: 'ip' });
  t.match(fileName, /^smtp-auth-day-by-ip-\d{4}-\d\d-\d\d\.csv$/);
  t.match(csv, /^ip,certificate_ok,/);
  t.throws(() => authReport(runtime, readOnly, { range: 'year' as never, groupBy: 'user' }), { kind: 'invalid', message: /hour, day, week, 30days/ });
  t.throws(() => authReport(runtime, readOnly, { range: 'day', groupBy: 'password' as never }), { kind: 'invalid', message: /./ });
});

t.test('log tails and the system status', async (t) => {
  const { runtime } = await appliance(t);
  runtime.logs.write('system', 'info', 'one');
  runtime.alerts.raise({ severity: 'warning', class: 'system', subject: 'something to see' });
  const system = runtime.config.logs.subscriptions.find((s) => s.type === 'system')!.name;
  t.match(tailLog(runtime, readOnly, system, 1), [/Alert \(warning, system\): something to see/]);
  t.throws(() => tailLog(runtime, readOnly, 'nosuch'), { kind: 'not-found', message: /./ });
  t.throws(() => tailLog(runtime, readOnly, system, 0), { kind: 'invalid', message: /./ });
  const status = await systemStatus(runtime, readOnly);
  t.match(status.services, [{ name: 'system', running: false }, { name: 'gateway', running: false }, { name: 'delivery' }, { name: 'webadmin' }]);
  t.match(status.selfTest, /gateway service is not running/);
  t.match(status.alerts, [/something to see/]);
});
