// The pure decisions of the abuse limits (src/mail/abuse-limits.ts, data-deadline.ts),
// the in-process counter store, the policy fields with their defaults and checks, and
// the console's view of them.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { clientKey, decideAfterErrors, decideAuthFailure, decideConnection, InProcessCounterStore } from '../../src/mail/abuse-limits.js';
import { dataVerdict } from '../../src/mail/data-deadline.js';
import { resolvePolicy } from '../../src/mail/mail-flow-policy.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { sampleConfig } from '../helpers/configs.js';
import { compiled, tempState } from '../helpers/state.js';

t.test('client key: IPv4 as it is, IPv6 by its /64, IPv4-mapped as IPv4', async (t) => {
  const table: [string, string][] = [
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ];
  for (const [ip, key] of table) t.equal(clientKey(ip), key, ip);
  t.not(clientKey('2001:db8:1:2::1'), clientKey('2001:db8:1:3::1'), 'another /64 is another client');
});

t.test('connections: the rate first (refused ones count), then the places', async (t) => {
  const limits = { connectionCountLimit: 3, connectionRateLimit: 5 };
  const table: [number, number, string][] = [
    // open before, connections this minute with this one, verdict
    [0, 1, 'admit'],
    [2, 3, 'admit'],
    [3, 4, 'count'],
    [2, 5, 'admit'],
    [0, 6, 'rate'],
    [3, 6, 'rate'],
  ];
  for (const [open, minute, verdict] of table) {
    const d = decideConnection(open, minute, limits);
    t.equal(d.admit ? 'admit' : d.reason, verdict, `${open} open, ${minute} this minute`);
  }
  t.same(decideConnection(0, 1_000_000, { connectionCountLimit: 3, connectionRateLimit: 0 }), { admit: true }, 'rate 0 means no rate limit');
});

t.test("errors: nothing up to the soft limit, a growing wait past it, 421 at the hard limit (Postfix's defaults)", async (t) => {
  const limits = { errorSleepMs: 1000, softErrorLimit: 10, hardErrorLimit: 20 };
  const table: [number, number, boolean][] = [
    [0, 0, false],
    [10, 0, false],
    [11, 1000, false],
    [12, 2000, false],
    [19, 9000, false],
    [20, 0, true],
    [35, 0, true],
  ];
  for (const [errors, delayMs, close] of table) t.same(decideAfterErrors(errors, limits), { delayMs, close }, `${errors} errors`);
});

t.test('failed AUTH: slowed from the first, the address blocked at its limit or when the user name is under a spread-out attack', async (t) => {
  const limits = { errorSleepMs: 100, authFailureLimit: 5, authFailureLimitPerUser: 20 };
  const table: [number, number, number, string | undefined][] = [
    // address failures, user-name failures (both with this one), wait, block
    [1, 1, 100, undefined],
    [2, 2, 200, undefined],
    [4, 4, 400, undefined],
    [5, 5, 100, 'address'],
    [1, 20, 100, undefined],
    [1, 21, 100, 'user'],
    [6, 40, 100, 'address'],
  ];
  for (const [address, user, delayMs, block] of table) t.same(decideAuthFailure(address, user, limits), { delayMs, block }, `${address} from the address, ${user} for the user`);
});

t.test('DATA: a total time limit and a minimum average rate after a grace time', async (t) => {
  const limits = { dataTimeoutSeconds: 600, dataMinBytesPerSecond: 500, dataMinRateGraceSeconds: 30 };
  const table: [number, number, string][] = [
    [0, 0, 'ok'],
    [29_999, 0, 'ok'],
    [30_000, 0, 'too-slow'],
    [540_000, 9, 'too-slow'], // one byte a minute: the slow loris
    [59_999, 15_000, 'ok'], // just within the grace plus 30 s at 500 B/s
    [60_000, 15_000, 'too-slow'],
    [599_999, 10_000_000, 'ok'],
    [600_000, 10_000_000, 'too-long'],
  ];
  for (const [elapsed, bytes, status] of table) t.equal(dataVerdict(elapsed, bytes, limits).status, status, `${bytes} bytes in ${elapsed} ms`);
  t.same(dataVerdict(10_000, 0, limits), { status: 'ok', recheckInMs: 20_000 }, 'the next look is when the credit runs out');
  t.equal(dataVerdict(1e9, 0, { ...limits, dataTimeoutSeconds: 1e7, dataMinBytesPerSecond: 0 }).status, 'ok', 'rate 0 means no minimum');
});

t.test('store: fixed windows, blocks that say when they start, places, and a bound on memory', async (t) => {
  const store = new InProcessCounterStore(3);
  t.equal(await store.hit('a', 0, 1000), 1);
  t.equal(await store.hit('a', 999, 1000), 2);
  t.equal(await store.count('a', 999), 2);
  t.equal(await store.hit('a', 1000, 1000), 1, 'a new window starts after the old one');
  t.equal(await store.count('a', 5000), 0);
  t.equal(await store.block('b', 0, 100), true, 'a block starts');
  t.equal(await store.block('b', 50, 200), false, 'one in force is extended, not started again');
  t.equal(await store.blockedUntil('b', 150), 200);
  t.equal(await store.blockedUntil('b', 200), undefined, 'over at its end');
  t.equal(await store.block('b', 300, 400), true, 'a later one starts again');
  t.equal(await store.acquire('p'), 1);
  t.equal(await store.acquire('p'), 2);
  await store.release('p');
  t.equal(await store.acquire('p'), 2);
  for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) await store.hit(k, 0, 10_000);
  t.equal(await store.count('k1', 1), 0, 'past the bound the oldest counters go');
  t.equal(await store.count('k5', 1), 1);
});

function listenerWith(policies: Record<string, unknown>[], maxConnections?: number) {
  const base = sampleConfig();
  const listener = base.listeners[0]!;
  return {
    ...base,
    listeners: [
      { ...listener, ...(maxConnections ? { maxConnections } : {}), policies: [{ ...listener.policies[0]!, ...policies[0] }, ...listener.policies.slice(1), ...policies.slice(1)] },
    ],
  };
}

t.test('policy: built-in defaults, "use default" from the default policy, and checks', async (t) => {
  const config = parseConfig(listenerWith([{}, { name: 'STRICT', connection: 'accept', authFailureLimit: 2 }]) as never);
  const listener = config.listeners[0]!;
  const def = resolvePolicy(listener, listener.defaultPolicy);
  t.match(def, {
    errorSleepMs: 1000,
    softErrorLimit: 10,
    hardErrorLimit: 20,
    authFailureLimit: 5,
    authFailureLimitPerUser: 20,
    connectionCountLimit: Math.floor(listener.maxConnections / 2),
    connectionRateLimit: 0,
    dataTimeoutSeconds: 600,
    dataMinBytesPerSecond: 500,
  });
  t.equal(resolvePolicy(listener, 'STRICT').authFailureLimit, 2);
  t.equal(resolvePolicy({ ...listener, maxConnections: 1 }, 'STRICT').connectionCountLimit, 1, 'never below one place');

  const inherited = parseConfig(
    listenerWith([
      { softErrorLimit: 3, hardErrorLimit: 6 },
      { name: 'OTHER', connection: 'accept' },
    ]) as never,
  ).listeners[0]!;
  t.match(resolvePolicy(inherited, 'OTHER'), { softErrorLimit: 3, hardErrorLimit: 6 }, 'a policy that leaves a limit unset takes the default policy’s');

  t.throws(() => parseConfig(listenerWith([{ connectionCountLimit: 50 }], 50) as never), /connectionCountLimit \(50\) must be below the listener's maxConnections \(50\)/);
  t.throws(() => parseConfig(listenerWith([{ softErrorLimit: 20 }]) as never), /hardErrorLimit \(20\) must be above softErrorLimit \(20\)/);
  t.throws(() => parseConfig(listenerWith([{ authFailureLimit: 0 }]) as never), /authFailureLimit/);
});

t.test('console: the limits are listed with their meaning, edited, and refused with a reason', async (t) => {
  const root = tempState(t);
  const run = (line: string) =>
    spawnSync(process.execPath, [compiled('fipsconsole/console.js')], {
      env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin', SSH_ORIGINAL_COMMAND: line, SSH_CONNECTION: '203.0.113.5 50000 10.0.0.1 22' },
      encoding: 'utf8',
      input: '',
    });
  const setup = run('listenerconfig new Incoming public port=2525; commit incoming');
  t.equal(setup.status, 0, setup.stdout + setup.stderr);
  const fields = run('listenerconfig policy Incoming fields DEFAULT').stdout;
  t.match(fields, /authFailureLimit: a number \(or "default"\) - failed AUTH from one address before AUTH from it is blocked \(5\)/);
  t.match(fields, /connectionRateLimit: a number \(or "default"\) - connections a minute from one address/);
  t.match(fields, /dataMinBytesPerSecond: .*\(500\)/);
  const edited = run('listenerconfig policy Incoming edit DEFAULT authFailureLimit=3 connectionRateLimit=60; commit limits; listenerconfig policy Incoming show DEFAULT');
  t.equal(edited.status, 0, edited.stdout + edited.stderr);
  t.match(edited.stdout, /authFailureLimit.*3/);
  t.match(edited.stdout, /connectionRateLimit.*60/);
  const refused = run('listenerconfig policy Incoming edit DEFAULT connectionCountLimit=50');
  t.match(refused.stdout + refused.stderr, /connectionCountLimit \(50\) must be below the listener's maxConnections \(50\)/);
});
