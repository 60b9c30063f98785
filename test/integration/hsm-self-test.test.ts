import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startHsmService } from '../../src/hsm/context.js';
import { hsmFiles } from '../../src/hsm/files.js';
import { knownAnswer } from '../../src/hsm/known-answer.js';
import { HsmService } from '../../src/hsm/service.js';
import { blankToken, initialisedToken, pkcs11Tool } from '../helpers/softhsm.js';

const read = (root: string, log: string) => readFileSync(join(root, 'logs', log, `${log}.current`), 'utf8');

t.test('the power-on self-test passes on a working HSM, leaves nothing on the token, and crypto is served', async (t) => {
  const token = await initialisedToken(t);
  const service = await startHsmService(token.runtime);
  t.teardown(() => service.close());
  t.same(service.status(), { state: 'ready' });
  t.match(service.statusLine(), /HSM ready/);
  t.match(read(token.root, 'fips_logs'), /Info: HSM power-on self-test passed/);
  t.notMatch(pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output, /Object;/, 'the test key was a session object only');
  await service.keys.generate({ label: 'k', algorithm: 'ec-p256' });
  t.equal((await service.sign('k', Buffer.from('x'))).at(0), 0x30, 'signatures are served');
});

t.test('a wrong known answer puts the service in an error state that refuses crypto, with a critical alert', async (t) => {
  const token = await initialisedToken(t);
  const wrong = { ...knownAnswer, signatureHex: `00${knownAnswer.signatureHex.slice(2)}` };
  const service = await HsmService.start({
    config: token.hsm,
    files: hsmFiles(token.runtime.paths),
    alerts: token.runtime.alerts,
    logs: token.runtime.logs,
    selfTestVector: wrong,
  });
  t.teardown(() => service.close());
  t.match(service.status(), { state: 'error', reason: /known-answer signature mismatch/ });
  t.match(service.statusLine(), /^HSM error: power-on self-test failed/);
  t.throws(() => service.keys, { code: 'error-state' });
  await t.rejects(service.sign('k', Buffer.from('x')), /error state.*refused/);
  await t.rejects(service.tlsOptionsFor('k'), { code: 'error-state' });
  t.match(read(token.root, 'system_logs'), /Critical: Alert \(critical, fips\): HSM power-on self-test failed/);
  t.match(read(token.root, 'fips_logs'), /Critical: HSM power-on self-test failed: known-answer signature mismatch; cryptographic operations are refused/);
});

t.test('a zeroized HSM fails the self-test at start rather than crashing the service', async (t) => {
  const token = await blankToken(t);
  writeFileSync(token.files.userPin, 'left-over-pin', { mode: 0o600 });
  const service = await startHsmService(token.runtime);
  t.teardown(() => service.close());
  t.match(service.status(), { state: 'error', reason: /no initialised HSM token labelled "appliance"/ });
  await t.rejects(service.sign('k', Buffer.from('x')), { code: 'error-state' });
});
