import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Candidate } from '../../src/os/config/candidate.js';
import { logLogin } from '../../src/os/logging/subscriptions.js';
import { openRuntime } from '../../src/os/runtime.js';
import { tempState } from '../helpers/state.js';

t.test('rollover deletes the oldest file at the maximum and raises an Information alert when asked', async (t) => {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const session = new Candidate(runtime.store, { user: 'admin', source: 'local' });
  session.edit((c) => {
    c.logs.subscriptions.push({ name: 'small_mail', type: 'mail', level: 'info', maxFileBytes: 1024, maxFiles: 2, alertOnDelete: true });
    c.alerts.recipients.push({ address: 'noc@example.com', severities: ['information'] });
  });
  await session.commit();
  runtime.refresh();
  for (let i = 0; i < 60; i++) runtime.logs.write('mail', 'info', `MID ${i} ICID 7 From: <user${i}@example.com> ${'x'.repeat(40)}`);
  const dir = join(root, 'logs', 'small_mail');
  const rolled = readdirSync(dir).filter((f) => f.endsWith('.s'));
  t.equal(rolled.length, 2, 'keeps at most maxFiles rolled files');
  const kept = [...rolled, 'small_mail.current'].map((f) => readFileSync(join(dir, f), 'utf8')).join('');
  t.match(kept, /MID 59 ICID 7/, 'the newest line is kept');
  t.notMatch(kept, /MID 0 ICID 7/, 'the oldest lines went with the deleted file');
  t.ok(readFileSync(join(dir, rolled[0]!), 'utf8').length >= 1024, 'rolled files reached the size limit');
  const systemLog = readFileSync(join(root, 'logs', 'system_logs', 'system_logs.current'), 'utf8');
  t.match(systemLog, /Info: Alert \(information, system\): log subscription small_mail removed its oldest records/);
  const outbox = readdirSync(join(root, 'alerts', 'outbox'));
  t.ok(outbox.length >= 1, 'the alert is queued for its recipient');
  t.match(JSON.parse(readFileSync(join(root, 'alerts', 'outbox', outbox[0]!), 'utf8')), { to: ['noc@example.com'], severity: 'information' });
  const mailLogs = readFileSync(join(root, 'logs', 'mail_logs', 'mail_logs.current'), 'utf8');
  t.match(mailLogs, /^\w{3} \w{3} \d{1,2} \d\d:\d\d:\d\d \d{4} Info: MID 0 ICID 7/, 'lines have the appliance format');
});

t.test('a subscription without the alert option rolls over silently', async (t) => {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const session = new Candidate(runtime.store, { user: 'admin', source: 'local' });
  session.edit((c) => {
    c.logs.subscriptions = [
      { name: 'quiet', type: 'mail', level: 'info', maxFileBytes: 1024, maxFiles: 1, alertOnDelete: false },
      c.logs.subscriptions.find((s) => s.type === 'system')!,
    ];
  });
  await session.commit();
  runtime.refresh();
  for (let i = 0; i < 60; i++) runtime.logs.write('mail', 'info', `MID ${i} ${'y'.repeat(60)}`);
  t.equal(readdirSync(join(root, 'logs', 'quiet')).filter((f) => f.endsWith('.s')).length, 1);
  const systemLog = join(root, 'logs', 'system_logs', 'system_logs.current');
  t.notMatch(readdirSync(join(root, 'logs', 'system_logs')).includes('system_logs.current') ? readFileSync(systemLog, 'utf8') : '', /removed its oldest/);
});

t.test('login lines carry the client IP or the tty, for success and failure', async (t) => {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  logLogin(runtime.logs, { user: 'admin', via: 'ssh', origin: { clientIp: '198.51.100.7' }, success: true });
  logLogin(runtime.logs, { user: 'admin', via: 'ssh', origin: { clientIp: '198.51.100.8' }, success: false, reason: 'wrong password' });
  logLogin(runtime.logs, { user: 'officer', via: 'serial', origin: { tty: 'ttyS0' }, success: false, reason: 'wrong password' });
  const lines = readFileSync(join(root, 'logs', 'authentication', 'authentication.current'), 'utf8')
    .trim()
    .split('\n');
  t.match(lines[0], /Info: User admin login from 198\.51\.100\.7 via ssh succeeded$/);
  t.match(lines[1], /Warning: User admin login from 198\.51\.100\.8 via ssh failed: wrong password$/);
  t.match(lines[2], /Warning: User officer login on ttyS0 via serial failed: wrong password$/);
});

t.test('a log line carries no byte a terminal acts on: C0, DEL and C1 controls are written as \\xHH', async (t) => {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  runtime.logs.write('authentication', 'info', 'client certificate subject "CN=Eve\u0000\u001b[2J\u009b31m\u007f" verdict rejected');
  const line = readFileSync(join(root, 'logs', 'authentication', 'authentication.current'), 'utf8').trim();
  t.match(line, /subject "CN=Eve\\x00\\x1b\[2J\\x9b31m\\x7f" verdict rejected$/);
  t.notOk(
    [...line].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)),
    'no control character is left',
  );
});
