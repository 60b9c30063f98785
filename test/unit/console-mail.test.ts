import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { Spool } from '../../src/mail/spool.js';
import { openRuntime } from '../../src/os/runtime.js';
import { compiled, tempState } from '../helpers/state.js';

function run(root: string, line: string) {
  return spawnSync(process.execPath, [compiled('fipsconsole/console.js'), line], { env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin' }, encoding: 'utf8' })
    .stdout;
}

t.test('queue count, list and show read the spool; findevent finds a message by MID, colon or not (seed 76277)', async (t) => {
  const root = tempState(t);
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const spool = new Spool(join(root, 'spool'));
  await spool.accept(
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
  runtime.logs.write('mail', 'info', 'Start MID 4242 ICID 7');
  runtime.logs.write('mail', 'info', 'MID 42 ICID 8 From: <someone@example.com>');
  runtime.logs.write('mail', 'warning', 'MID 4242: scanning error (name=somewordfile.doc, type=document/doc): file is corrupt');

  t.match(run(root, 'queue count'), /incoming: 1/);
  t.match(run(root, 'queue list'), /MID 4242 {2}incoming {2}\d+ bytes {2}<john\.doe@example\.com> → jane\.roe@example\.org {2}quarterly figures/);
  t.match(run(root, 'queue show 4242'), /"mailFrom": "john\.doe@example\.com"/);
  t.match(run(root, 'queue show 1'), /no message with MID 1 in the queue/);
  const found = run(root, 'findevent mid 4242');
  t.match(found, /Start MID 4242 ICID 7/);
  t.match(found, /MID 4242: scanning error/, 'the line with a colon after the MID is found');
  t.notMatch(found, /MID 42 ICID 8/, 'MID 42 is not MID 4242');
  t.match(run(root, 'findevent mid x'), /usage: findevent/);
});
