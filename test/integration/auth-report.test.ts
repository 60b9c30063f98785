// The Inbound SMTP Authentication report's store: time ranges, grouping by
// user, domain and IP, counts that survive a restart (a new process opening
// the same SQLite file), pruning past 30 days, and the CSV export.
import { join } from 'node:path';
import t from 'tap';
import { AuthReportStore } from '../../src/mail/auth/report-store.js';
import { tempState } from '../helpers/state.js';

const start = new Date('2026-11-29T12:00:00Z').getTime();
const hour = 3600_000;
const day = 24 * hour;

t.test('ranges, grouping and a restart', async (t) => {
  const path = join(tempState(t, 'auth-report-'), 'reports', 'smtp-auth.sqlite');
  let now = start - 40 * day;
  const clock = () => new Date(now);
  const store = new AuthReportStore(path, clock);
  const alice = { user: 'alice@example.com', domain: 'example.com', ip: '10.1.1.1' };
  const bob = { user: 'bob', domain: '', ip: '10.1.1.2' };
  store.record('auth_ok', alice); // 40 days ago: beyond every range
  for (const [offset, counter] of [
    [10 * day, 'certificate_ok'],
    [3 * day, 'certificate_failed'],
    [2 * hour, 'auth_failed'],
    [10 * 60_000, 'auth_ok'],
    [60_000, 'messages_authenticated'],
  ] as const) {
    now = start - offset;
    store.record(counter, alice);
  }
  now = start;
  store.record('auth_fallback', bob);
  store.record('messages_unauthenticated', { user: 'Mallory@Evil.example', domain: 'evil.example', ip: '10.1.1.2' });
  store.close();

  const reopened = new AuthReportStore(path, clock);
  t.teardown(() => reopened.close());
  t.match(
    reopened.totals('hour'),
    { auth_ok: 1, messages_authenticated: 1, auth_fallback: 1, messages_unauthenticated: 1, auth_failed: 0, certificate_ok: 0 },
    'the last hour, after a restart',
  );
  t.match(reopened.totals('day'), { auth_failed: 1, certificate_failed: 0 });
  t.match(reopened.totals('week'), { certificate_failed: 1, certificate_ok: 0 });
  t.match(reopened.totals('30days'), { certificate_ok: 1, auth_ok: 1 }, 'the auth_ok of 40 days ago is outside every range');

  t.same(
    reopened.bySender('30days', 'ip').map((r) => [r.key, r.certificate_ok + r.certificate_failed + r.auth_ok + r.auth_failed, r.auth_fallback, r.messages_unauthenticated]),
    [
      ['10.1.1.1', 4, 0, 0],
      ['10.1.1.2', 0, 1, 1],
    ],
  );
  t.match(reopened.bySender('day', 'domain'), [{ key: 'example.com', auth_ok: 1, auth_failed: 1 }, { key: '' }, { key: 'evil.example' }]);
  t.match(reopened.bySender('hour', 'user'), [{ key: 'alice@example.com' }, { key: 'bob' }, { key: 'mallory@evil.example' }], 'user names are counted case-insensitively');
});

t.test('old rows are pruned as new ones arrive', async (t) => {
  let now = start - 40 * day;
  const store = new AuthReportStore(':memory:', () => new Date(now));
  t.teardown(() => store.close());
  store.record('auth_ok', { user: 'old', domain: '', ip: '10.0.0.1' });
  now = start;
  store.record('auth_ok', { user: 'new', domain: '', ip: '10.0.0.1' });
  now = start + 40 * day;
  t.same(store.bySender('30days', 'user'), [], 'nothing in range');
  now = start - 40 * day + 60_000;
  t.same(
    store.bySender('30days', 'user').map((r) => r.key),
    [],
    'looking back to when it was recorded: the row is gone, not just out of range',
  );
});

t.test('CSV export', async (t) => {
  const store = new AuthReportStore(':memory:', () => new Date(start));
  t.teardown(() => store.close());
  store.record('auth_ok', { user: 'doe, john', domain: 'example.com', ip: '10.0.0.1' });
  store.record('auth_failed', { user: '=cmd|"/c calc"!A1', domain: '', ip: '10.0.0.2' });
  store.record('auth_failed', { user: '=cmd|"/c calc"!A1', domain: '', ip: '10.0.0.2' });
  const csv = store.csv('day', 'user');
  t.equal(
    csv,
    [
      'user,certificate_ok,certificate_failed,auth_ok,auth_allowed_monitor,auth_failed,auth_fallback,messages_authenticated,messages_unauthenticated',
      `"'=cmd|""/c calc""!a1",0,0,0,0,2,0,0,0`,
      '"doe, john",0,0,1,0,0,0,0,0',
      '',
    ].join('\r\n'),
    'RFC 4180 quoting, and no spreadsheet formula from a user name',
  );
});

t.test('a report written before a counter existed opens, keeps its counts, and counts the new one', async (t) => {
  const { DatabaseSync } = await import('node:sqlite');
  const path = join(tempState(t, 'auth-report-old-'), 'smtp-auth.sqlite');
  const old = new DatabaseSync(path);
  old.exec(`CREATE TABLE smtp_auth_counts (minute INTEGER NOT NULL, user TEXT NOT NULL, domain TEXT NOT NULL, ip TEXT NOT NULL,
    certificate_ok INTEGER NOT NULL DEFAULT 0, certificate_failed INTEGER NOT NULL DEFAULT 0, auth_ok INTEGER NOT NULL DEFAULT 0,
    auth_failed INTEGER NOT NULL DEFAULT 0, auth_fallback INTEGER NOT NULL DEFAULT 0, messages_authenticated INTEGER NOT NULL DEFAULT 0,
    messages_unauthenticated INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (minute, user, domain, ip)) WITHOUT ROWID`);
  old.prepare('INSERT INTO smtp_auth_counts (minute, user, domain, ip, auth_ok) VALUES (?, ?, ?, ?, 3)').run(Math.floor(start / 60_000), 'alice', '', '10.0.0.1');
  old.close();
  const store = new AuthReportStore(path, () => new Date(start));
  t.teardown(() => store.close());
  store.record('auth_allowed_monitor', { user: 'alice', domain: '', ip: '10.0.0.1' });
  t.match(store.totals('hour'), { auth_ok: 3, auth_allowed_monitor: 1 });
});

t.test('the table by sender is exact at the edges of a range, where whole days come from the daily rollup', async (t) => {
  // Events every 37 minutes for 35 days, by three users: every range starts and ends inside a day.
  let now = start - 35 * day;
  const store = new AuthReportStore(':memory:', () => new Date(now));
  t.teardown(() => store.close());
  const recorded: { at: number; user: string }[] = [];
  for (let i = 0; now < start; i++, now += 37 * 60_000) {
    const user = ['ann', 'ben', 'cy'][i % 3]!;
    store.record('auth_ok', { user, domain: 'example.com', ip: '10.0.0.1' });
    recorded.push({ at: now, user });
  }
  for (const probe of [start, start + 7 * 60_000 + 13 * hour]) {
    now = probe;
    for (const [range, minutes] of [
      ['day', 24 * 60],
      ['week', 7 * 24 * 60],
      ['30days', 30 * 24 * 60],
    ] as const) {
      const first = Math.floor(probe / 60_000) - minutes + 1;
      const expected: Record<string, number> = {};
      for (const e of recorded) if (Math.floor(e.at / 60_000) >= first && e.at <= probe) expected[e.user] = (expected[e.user] ?? 0) + 1;
      const got = Object.fromEntries(store.bySender(range, 'user').map((r) => [r.key, r.auth_ok]));
      t.same(got, expected, `${range} ending ${new Date(probe).toISOString()}`);
      t.equal(
        store.totals(range).auth_ok,
        Object.values(expected).reduce((a, b) => a + b, 0),
        `${range} totals agree with the table`,
      );
    }
  }
});

t.test('the chart series puts each event in its bucket and sums to the totals', async (t) => {
  let now = start;
  const store = new AuthReportStore(':memory:', () => new Date(now));
  t.teardown(() => store.close());
  now = start - 90 * 60_000;
  store.record('certificate_ok', { user: 'old', domain: '', ip: '10.0.0.1' }); // outside the hour
  now = start - 30 * 60_000;
  store.record('certificate_ok', { user: 'a', domain: '', ip: '10.0.0.1' });
  store.record('auth_failed', { user: 'a', domain: '', ip: '10.0.0.1' });
  now = start;
  store.record('certificate_ok', { user: 'b', domain: '', ip: '10.0.0.1' });
  const hourly = store.series('hour');
  t.equal(hourly.times.length, 60);
  t.equal(hourly.bucketMinutes, 1);
  t.equal(hourly.times.at(-1), start, 'the last bucket is the current minute');
  t.equal(hourly.counters.certificate_ok[59], 1);
  t.equal(hourly.counters.certificate_ok[29], 1, '30 minutes ago');
  t.equal(hourly.counters.auth_failed[29], 1);
  t.equal(
    hourly.counters.certificate_ok.reduce((a, b) => a + b, 0),
    store.totals('hour').certificate_ok,
    'the chart adds up to the totals',
  );
  const daily = store.series('day');
  t.equal(daily.times.length, 96);
  t.equal(
    daily.counters.certificate_ok.reduce((a, b) => a + b, 0),
    3,
    'the day includes the event of 90 minutes ago',
  );
  t.equal(store.series('30days').times.length, 180);
  t.equal(store.series('week').times.length, 168);
});
