// The crash test: 500 messages accepted into the spool (each acknowledged as
// the gateway would say 250) while the delivery service (the compiled
// service, in its own process) is killed with SIGKILL three times at random
// moments and restarted. Every acknowledged message must reach the next hop;
// duplicates are allowed by design (at-least-once) and counted.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { IdCounter } from '../../src/mail/id-counter.js';
import { Spool } from '../../src/mail/spool.js';
import { openRuntime } from '../../src/os/runtime.js';
import { compiled, tempState } from '../helpers/state.js';
import { NextHop, until } from './delivery-fixture.js';

const total = 500;
const kills = 3;

t.test(`${total} messages survive ${kills} SIGKILLs of the delivery service`, async (t) => {
  const root = tempState(t, 'appliance-crash-');
  const hop = await NextHop.start(t);
  const runtime = await openRuntime('test', root);
  const base = runtime.store.committed();
  await runtime.store.commit(
    { ...base.config, routes: { ...base.config.routes, defaultRoute: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] } },
    { user: 'test', source: 'local', baseRevision: base.meta.revision },
  );
  runtime.close();

  const service = compiled('mail/delivery-service.js');
  let child: ChildProcess | undefined;
  const startService = () => {
    child = spawn(process.execPath, [service], { env: { ...process.env, APPLIANCE_STATE_DIR: root, NOTIFY_SOCKET: '' }, stdio: 'ignore' });
  };
  t.teardown(() => {
    child?.kill('SIGKILL');
  });

  const spool = new Spool(join(root, 'spool'));
  const mids = new IdCounter(join(root, 'spool', 'next-mid'));
  const acknowledged = new Set<number>();
  const load = (async () => {
    for (let seq = 0; seq < total; seq += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, total - seq) }, async (_, i) => {
          const n = seq + i;
          const mid = mids.take();
          const envelope = {
            mid,
            icid: 1,
            listener: 'OutgoingMail',
            mailFrom: 'john.doe@example.com',
            rcptTo: ['jane@example.org'],
            clientAddress: '127.0.0.1',
            receivedAt: new Date().toISOString(),
          };
          const content = `From: <john.doe@example.com>\r\nTo: <jane@example.org>\r\nSubject: load ${n}\r\nX-Seq: ${n}\r\n\r\nmessage ${n}\r\n`;
          const result = await spool.accept(`Received: by test; ${new Date().toUTCString()}\r\n`, Readable.from([Buffer.from(content)]), envelope, 100_000);
          if (result.accepted) acknowledged.add(n);
        }),
      );
      await sleep(40);
    }
  })();

  const killedAt: number[] = [];
  for (let k = 0; k < kills; k++) {
    const before = hop.received.length;
    startService();
    // A random moment once this instance is delivering (its start-up takes about a second).
    await until('the service delivers', () => hop.received.length > before || hop.received.length >= total, 30_000);
    await sleep(Math.floor(Math.random() * 300));
    child?.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));
    killedAt.push(hop.received.length);
  }
  startService();
  await load;
  const seqs = () => new Set(hop.received.map((m) => Number(/X-Seq: (\d+)/.exec(m.data)?.[1])));
  await until('every acknowledged message arrived', () => seqs().size >= acknowledged.size, 90_000);
  child?.kill('SIGTERM');
  await new Promise((resolve) => child?.once('exit', resolve));

  const arrived = seqs();
  const missing = [...acknowledged].filter((n) => !arrived.has(n));
  const duplicates = hop.received.length - arrived.size;
  t.equal(acknowledged.size, total, 'every message was acknowledged');
  t.same(missing, [], 'every acknowledged message arrived');
  t.ok(
    killedAt.some((n) => n > 0 && n < total),
    `killed while delivering (messages delivered at each kill: ${killedAt.join(', ')})`,
  );
  t.comment(`duplicates: ${duplicates} of ${hop.received.length} deliveries (at-least-once: a message delivered just before a kill goes out again)`);
  t.ok(duplicates <= kills * 20, 'duplicates stay within what the kills could cause (the attempts in flight at each kill)');
});
