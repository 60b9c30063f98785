import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Candidate } from '../../src/os/config/candidate.js';
import { ConfigStore } from '../../src/os/config/store.js';
import { withFileLock } from '../../src/os/file-lock.js';
import { sampleConfig } from '../helpers/configs.js';
import { compiled, tempState } from '../helpers/state.js';

const admin = { user: 'admin', source: 'ssh' as const, from: '192.0.2.10' };

async function newStore(t: Test) {
  const dir = tempState(t);
  const store = new ConfigStore(join(dir, 'config'));
  await store.initialise(sampleConfig());
  return { dir, store };
}

t.test('a commit keeps a numbered revision with user, source, client IP, time and comment', async (t) => {
  const { store } = await newStore(t);
  const session = new Candidate(store, admin);
  t.notOk(session.pending);
  session.edit((c) => {
    c.system.hostname = 'gw1.example.com';
  });
  t.ok(session.pending, 'the change is pending');
  t.equal(store.committed().config.system.hostname, 'mail.example.com', 'and not yet committed');
  t.match(session.diff(), /-\s+"hostname": "mail.example.com"[\s\S]*\+\s+"hostname": "gw1.example.com"/);
  const meta = await session.commit('rename the gateway');
  t.match(meta, { revision: 2, user: 'admin', source: 'ssh', from: '192.0.2.10', comment: 'rename the gateway' });
  t.ok(Date.parse(meta.time) > Date.now() - 60_000);
  t.equal(store.committed().config.system.hostname, 'gw1.example.com');
  t.same(
    store.history().map((m) => m.revision),
    [2, 1],
  );
  t.notOk(session.pending, 'nothing pending after commit');
});

t.test('an invalid candidate is refused and the committed configuration stays', async (t) => {
  const { store } = await newStore(t);
  const session = new Candidate(store, admin);
  session.edit((c) => {
    c.listeners[0]!.port = 0;
  });
  await t.rejects(session.commit(), /commit refused, nothing was changed:\n\s+- listeners\.0\.port/);
  t.equal(store.committed().meta.revision, 1);
  t.ok(session.pending, 'the candidate keeps the change so it can be corrected');
});

t.test('clear discards the candidate; rollback N loads revision N into it', async (t) => {
  const { store } = await newStore(t);
  const session = new Candidate(store, admin);
  session.edit((c) => {
    c.system.hostname = 'two.example.com';
  });
  await session.commit();
  session.edit((c) => {
    c.system.hostname = 'three.example.com';
  });
  session.clear();
  t.equal(session.config.system.hostname, 'two.example.com');
  t.notOk(session.pending);
  session.rollback(1);
  t.equal(session.config.system.hostname, 'mail.example.com');
  t.ok(session.pending, 'a rollback is a change to commit');
  const meta = await session.commit('back to the start');
  t.equal(meta.revision, 3);
  t.equal(store.committed().config.system.hostname, 'mail.example.com');
  t.throws(() => session.rollback(9), /there is no revision 9; revisions run from 1 to 3/);
});

t.test('sessions that change different sections both land; the same section conflicts', async (t) => {
  const { store } = await newStore(t);
  const alice = new Candidate(store, admin);
  const bob = new Candidate(store, { user: 'bob', source: 'serial', from: 'ttyS0' });
  alice.edit((c) => {
    c.system.hostname = 'alice.example.com';
  });
  bob.edit((c) => {
    c.crl.enabled = true;
  });
  await alice.commit();
  await bob.commit();
  t.equal(store.committed().config.system.hostname, 'alice.example.com', "alice's change kept");
  t.equal(store.committed().config.crl.enabled, true, "bob's change kept");

  const carol = new Candidate(store, admin);
  const dave = new Candidate(store, admin);
  carol.edit((c) => {
    c.crl.whenIssuerHasNoCrl = 'allow-and-log';
  });
  dave.edit((c) => {
    c.crl.enabled = false;
  });
  await carol.commit();
  await t.rejects(dave.commit(), /crl changed in revision 4 by admin/);
  t.equal(store.committed().meta.revision, 4);
});

t.test('a commit killed between write and rename leaves the previous revision intact', async (t) => {
  const { dir } = await newStore(t);
  const before = readFileSync(join(dir, 'config', 'committed.json'), 'utf8');
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { ConfigStore } = await import(${JSON.stringify(compiled('os/config/store.js'))});
       const store = new ConfigStore(${JSON.stringify(join(dir, 'config'))});
       const c = store.committed().config; c.system.hostname = 'killed.example.com';
       await store.commit(c, { user: 'admin', source: 'local', baseRevision: 1 });`,
    ],
    { env: { ...process.env, APPLIANCE_FAULT: 'kill-before-rename' }, encoding: 'utf8' },
  );
  t.equal(child.signal, 'SIGKILL', 'the committing process died mid-commit');
  t.equal(readFileSync(join(dir, 'config', 'committed.json'), 'utf8'), before, 'committed.json is untouched');
  const reopened = new ConfigStore(join(dir, 'config'));
  reopened.dropRemainsOfDeadCommits();
  t.equal(reopened.committed().meta.revision, 1, 'the previous revision loads');
  t.equal(reopened.committed().config.system.hostname, 'mail.example.com');
  const next = new Candidate(reopened, admin);
  next.edit((c) => {
    c.system.hostname = 'after.example.com';
  });
  t.equal((await next.commit()).revision, 2, 'and the next commit goes on from it');
});

t.test('commits from two processes at once are serialised by the lock', async (t) => {
  const { dir, store } = await newStore(t);
  const script = (host: string, section: string) => `
    const { ConfigStore } = await import(${JSON.stringify(compiled('os/config/store.js'))});
    const store = new ConfigStore(${JSON.stringify(join(dir, 'config'))});
    for (let i = 0; i < 10; i++) {
      const base = store.committed();
      const c = base.config; ${section} = ${host ? `${JSON.stringify(host)} + i` : '10 + i'};
      await store.commit(c, { user: 'u', source: 'local', baseRevision: base.meta.revision });
    }`;
  const { spawn } = await import('node:child_process');
  const run = (code: string) =>
    new Promise<number | null>((resolve) => {
      spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' }).on('exit', resolve);
    });
  const codes = await Promise.all([run(script('a.example.com', 'c.system.hostname')), run(script('', 'c.routes.maxQueueHours'))]);
  t.same(codes, [0, 0], 'both processes committed without error');
  t.equal(store.committed().meta.revision, 21, 'twenty commits, none lost');
  t.equal(store.committed().config.system.hostname, 'a.example.com9');
  t.equal(store.committed().config.routes.maxQueueHours, 19);
});

t.test('commit confirmed: the store reverts an overdue confirmation when asked, and only then', async (t) => {
  const { store } = await newStore(t);
  const session = new Candidate(store, admin);
  session.edit((c) => {
    c.system.hostname = 'risky.example.com';
  });
  await session.commit('try it', 0.005); // 300 ms
  t.match(store.pendingConfirm(), { revision: 2, revertTo: 1 });
  t.equal(await store.revertUnconfirmed(), undefined, 'nothing reverts before the deadline');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(store.committed().meta.revision, 2, 'the store itself keeps no timer: the system service owns the deadline');
  const reversion = await store.revertUnconfirmed();
  t.match(reversion, { meta: { revision: 3, user: 'system', source: 'system', comment: /reverted to revision 1: not confirmed/ }, undone: { revision: 2, revertTo: 1 } });
  t.equal(store.committed().config.system.hostname, 'mail.example.com');
  t.equal(store.pendingConfirm(), undefined);

  session.edit((c) => {
    c.system.hostname = 'kept.example.com';
  });
  await t.rejects(session.commit(), /system changed in revision 3 by system/, 'a session begun before the revert must start again');
  session.clear();
  session.edit((c) => {
    c.system.hostname = 'kept.example.com';
  });
  await session.commit('again', 0.005);
  t.equal(await store.confirm(), 4, 'confirmed in time');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(await store.revertUnconfirmed(), undefined, 'a confirmed commit is not reverted');
  t.equal(store.committed().config.system.hostname, 'kept.example.com', 'a confirmed commit stays');
});

t.test('a restart with a commit confirmed pending reverts it', async (t) => {
  const { dir, store } = await newStore(t);
  const session = new Candidate(store, admin);
  session.edit((c) => {
    c.system.hostname = 'risky.example.com';
  });
  await session.commit('try it', 10);
  const afterRestart = new ConfigStore(join(dir, 'config'));
  const reverted = await afterRestart.revertUnconfirmed(true);
  t.match(reverted?.meta, { revision: 3, comment: /a restart came before confirmation/ });
  t.equal(afterRestart.committed().config.system.hostname, 'mail.example.com');
  t.equal(afterRestart.pendingConfirm(), undefined);
});

t.test('an unusable committed file is set aside, the newest valid revision runs, and an alert says so', async (t) => {
  const { openRuntime } = await import('../../src/os/runtime.js');
  const root = tempState(t);
  const first = await openRuntime('test', root);
  const session = new Candidate(first.store, admin);
  session.edit((c) => {
    c.system.hostname = 'kept.example.com';
  });
  await session.commit('good');
  first.close();
  const { writeFileSync, readdirSync } = await import('node:fs');
  writeFileSync(join(root, 'config', 'committed.json'), '{"meta": {"revision": 3}, "config": {"system": {"hostname": "no good!"}}}');
  const second = await openRuntime('test', root);
  t.teardown(() => second.close());
  t.equal(second.config.system.hostname, 'kept.example.com', 'the newest valid revision runs');
  t.ok(
    readdirSync(join(root, 'config')).some((f) => f.startsWith('committed.json.unusable-')),
    'the bad file is kept aside for a look',
  );
  t.match(
    readFileSync(join(root, 'logs', 'system_logs', 'system_logs.current'), 'utf8'),
    /Critical: Alert \(critical, system\): the committed configuration was unusable and was replaced - .*running revision 2 \(good\)/,
  );
});

t.test('a lock left by a dead process is taken over; a live one is waited for and never removed by another', async (t) => {
  const dir = tempState(t, 'appliance-lock-');
  const lock = join(dir, 'commit.lock');
  writeFileSync(lock, `${process.pid} someone-else`); // a live owner (this process) with another token
  await t.rejects(
    withFileLock(lock, () => 'ran', 300),
    { message: /another commit is in progress .* held by pid \d+/ },
    'a live lock is waited for',
  );
  t.equal(readFileSync(lock, 'utf8'), `${process.pid} someone-else`, 'and left alone');
  writeFileSync(lock, '999999999 crashed'); // no such process
  t.equal(await withFileLock(lock, () => 'ran', 2000), 'ran', "a dead owner's lock is taken over");
  t.notOk(existsSync(lock), 'and released');
  const inside = await withFileLock(lock, () => readFileSync(lock, 'utf8'));
  t.match(inside, new RegExp(`^${process.pid} [0-9a-f]{16}$`), 'a lock is never seen empty: pid and token are there from the start');
  t.same(readdirSync(dir), [], 'no private lock names are left behind');
});

t.test('the store judges every commit with the lesser of the given role and the account role now, and masks secrets in comments', async (t) => {
  const { store } = await newStore(t);
  const hash = 'scrypt$16384$8$1$c2FsdA==$aGFzaA==';
  const accounts = structuredClone(store.committed().config);
  accounts.users = [
    { name: 'root1', fullName: '', role: 'admin', passwordHash: hash, sshPublicKeys: [] },
    { name: 'op1', fullName: '', role: 'operator', passwordHash: hash, sshPublicKeys: [] },
  ];
  await store.commit(accounts, { user: 'setup', source: 'local', baseRevision: 1 });
  const grant = structuredClone(accounts);
  grant.users[1]!.role = 'admin';
  await t.rejects(
    store.commit(grant, { user: 'op1', source: 'ssh', baseRevision: 2, role: 'admin' }),
    /your role \(operator\) may not change user accounts/,
    'a front end cannot raise the role',
  );
  await t.rejects(store.commit(grant, { user: 'root1', source: 'ssh', baseRevision: 2, role: 'operator' }), /your role \(operator\)/, 'nor does it get more than it says');
  await t.rejects(store.commit(grant, { user: 'nobody', source: 'ssh', baseRevision: 2 }), /read-only/, 'a name without an account is read-only');
  t.equal(store.committed().meta.revision, 2, 'nothing was committed');
  const meta = await store.commit(grant, { user: 'root1', source: 'ssh', baseRevision: 2, comment: 'ldapconfig server edit corp bindPassword=Hunter-22 port=389' });
  t.equal(meta.comment, 'ldapconfig server edit corp bindPassword=***** port=389');
  t.notMatch(readFileSync(join(store.dir, 'committed.json'), 'utf8'), /Hunter-22/);
});
