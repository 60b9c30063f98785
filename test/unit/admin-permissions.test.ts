// What each role may do outside a commit, by effect: a table, as every front end
// (console, web, a crafted request) reaches the same check.
import t from 'tap';
import { authorize, type Effect, refusal } from '../../src/admin/permissions.js';

const table: [Effect, boolean, boolean, boolean][] = [
  // effect             read-only operator admin
  ['read', true, true, true],
  ['edit', false, true, true],
  ['commit', false, true, true],
  ['queue', false, true, true],
  ['fetch', false, true, true],
  ['test-password', false, true, true],
  ['power', false, true, true],
  ['export-masked', false, true, true],
  ['hsm', false, false, true],
  ['upgrade', false, false, true],
  ['export-encrypted', false, false, true],
];

t.test('each role and effect', async (t) => {
  for (const [effect, readOnly, operator, admin] of table) {
    t.equal(refusal('read-only', effect) === undefined, readOnly, `read-only ${effect}`);
    t.equal(refusal('operator', effect) === undefined, operator, `operator ${effect}`);
    t.equal(refusal('admin', effect) === undefined, admin, `admin ${effect}`);
  }
});

t.test('a refusal says which role it needs', async (t) => {
  t.match(refusal('operator', 'hsm'), /your role \(operator\) may not use the HSM .*needs an admin/);
  t.match(refusal('read-only', 'queue'), /needs an operator or admin/);
  t.throws(() => authorize({ role: 'read-only' }, 'power'), { kind: 'forbidden', message: /./ });
  t.throws(() => authorize({ role: 'read-only' }, 'power'), { kind: 'forbidden', message: /./ });
});
