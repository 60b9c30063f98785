import { verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import t from 'tap';
import { HsmKeys } from '../../src/hsm/keys.js';
import { SessionPool } from '../../src/hsm/pool.js';
import { initialisedToken, softhsmModule } from '../helpers/softhsm.js';

t.test('200 concurrent signatures from one process all succeed and verify', async (t) => {
  const token = await initialisedToken(t);
  const pool = SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: token.userPin, size: 4 });
  t.teardown(() => pool.close());
  const keys = new HsmKeys(pool);
  await keys.generate({ label: 'tls-ec', algorithm: 'ec-p256' });
  await keys.generate({ label: 'dkim-rsa', algorithm: 'rsa-2048' });
  const ec = await keys.publicKey('tls-ec');
  const rsa = await keys.publicKey('dkim-rsa');
  const jobs = Array.from({ length: 200 }, (_, i) => {
    const data = Buffer.from(`message ${i}`);
    const label = i % 2 === 0 ? 'tls-ec' : 'dkim-rsa';
    return keys.sign(label, data).then((signature) => ({ i, data, label, signature }));
  });
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === 'rejected');
  t.equal(failed.length, 0, `no signature failed${failed.length ? `: ${String((failed[0] as PromiseRejectedResult).reason)}` : ''}`);
  let verified = 0;
  for (const r of results) {
    if (r.status !== 'fulfilled') continue;
    const { data, label, signature } = r.value;
    if (verify('sha256', data, label === 'tls-ec' ? ec : rsa, signature)) verified++;
  }
  t.equal(verified, 200, 'every signature verifies against its public key');
});

t.test('one session with two operations is CKR_OPERATION_ACTIVE; a pool of one session queues instead', async (t) => {
  const token = await initialisedToken(t);
  const pool = SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: token.userPin, size: 1 });
  t.teardown(() => pool.close());
  const keys = new HsmKeys(pool);
  await keys.generate({ label: 'k', algorithm: 'ec-p256' });
  await t.rejects(
    pool.run((session, lib) => {
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: 'k' }]);
      try {
        lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: 'k' }]);
      } finally {
        lib.C_FindObjectsFinal(session);
      }
    }),
    { code: pkcs11js.CKR_OPERATION_ACTIVE },
    'PKCS#11 refuses a second operation on a busy session',
  );
  const signatures = await Promise.all(Array.from({ length: 50 }, (_, i) => keys.sign('k', Buffer.from(String(i)))));
  t.equal(signatures.length, 50, 'fifty concurrent signatures through one session all succeed');
});

t.test('a wrong crypto-user PIN or a missing token is refused when the pool opens', async (t) => {
  const token = await initialisedToken(t);
  t.throws(() => SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: 'not-the-pin' }), { code: pkcs11js.CKR_PIN_INCORRECT });
  t.throws(() => SessionPool.open({ modulePath: softhsmModule, tokenLabel: 'other', userPin: token.userPin }), /no initialised HSM token labelled "other"/);
  const pool = SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: token.userPin });
  pool.close();
  await t.rejects(
    pool.run(() => 1),
    /closed/,
    'a closed pool refuses work',
  );
});
