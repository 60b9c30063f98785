import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { startHsmService } from '../../src/hsm/context.js';
import { deviceFor, Pkcs11CardDevice } from '../../src/hsm/device.js';
import { hsmFiles } from '../../src/hsm/files.js';
import { pinCredentialName } from '../../src/hsm/pin.js';
import { provisionSoftHsm } from '../../src/hsm/provision.js';
import { initialisedToken, pkcs11Tool } from '../helpers/softhsm.js';
import { tempState } from '../helpers/state.js';

const script = resolve(import.meta.dirname, '../../softhsm/provision');

t.test('softhsm/provision and provisionSoftHsm make the same token folder and configuration', async (t) => {
  const shell = tempState(t);
  const printed = execFileSync(script, [shell], { encoding: 'utf8' }).trim();
  t.equal(printed, join(shell, 'hsm', 'softhsm2.conf'), 'the script prints the SOFTHSM2_CONF path');
  t.match(readFileSync(printed, 'utf8'), new RegExp(`^directories\\.tokendir = ${join(shell, 'hsm', 'tokens')}$`, 'm'));
  t.equal(statSync(join(shell, 'hsm', 'tokens')).mode & 0o777, 0o700, 'the token folder is root-only');
  const typescript = tempState(t);
  const conf = provisionSoftHsm(hsmFiles({ hsm: join(typescript, 'hsm'), run: join(typescript, 'run') }));
  t.equal(readFileSync(conf, 'utf8').replace(typescript, 'STATE'), readFileSync(printed, 'utf8').replace(shell, 'STATE'), 'both give the same configuration');
  t.equal(execFileSync(script, [shell], { encoding: 'utf8' }).trim(), printed, 'running it again is harmless');
  t.match(
    execFileSync('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '-L'], { env: { ...process.env, SOFTHSM2_CONF: printed }, encoding: 'utf8' }),
    /token state:\s+uninitialized/,
    'SoftHSM2 takes it',
  );
  t.throws(() => execFileSync(script, [], { stdio: 'pipe' }), 'the state folder is required');
});

t.test('the HSM device says what it is; SoftHSM2 zeroizes by deleting the token files, a card refuses rather than pretend', async (t) => {
  const token = await initialisedToken(t);
  const device = deviceFor(token.hsm, token.files);
  t.match(device.info(), { kind: 'softhsm2', modulePath: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'appliance', detail: /\(1 token\)/ });
  await device.zeroize();
  t.match(device.info(), { detail: /\(0 tokens\)/ });
  t.match(pkcs11Tool(token, ['-L']).output, /token state:\s+uninitialized/);
  const card = deviceFor({ ...token.hsm, device: 'pkcs11-card', modulePath: '/usr/lib/vendor/card.so' }, token.files);
  t.type(card, Pkcs11CardDevice);
  t.match(card.info(), { kind: 'pkcs11-card' });
  await t.rejects(card.zeroize(), /vendor's zeroize command, which is not implemented/);
});

t.test('a service started by systemd reads the crypto-user PIN from its LoadCredential= folder', async (t) => {
  const token = await initialisedToken(t);
  const credentials = join(token.root, 'credentials');
  mkdirSync(credentials);
  writeFileSync(join(credentials, pinCredentialName), token.userPin, { mode: 0o400 });
  writeFileSync(token.files.userPin, 'not-the-pin'); // proves the state copy is not what was read
  const service = await startHsmService(token.runtime, undefined, { ...process.env, CREDENTIALS_DIRECTORY: credentials });
  t.teardown(() => service.close());
  t.same(service.status(), { state: 'ready' });
  await service.keys.generate({ label: 'k', algorithm: 'ec-p256' });
  await service.certificates.selfSign('k', { subject: { commonName: 'k' }, days: 1 });
  t.match((await service.tlsOptionsFor('k')).privateKeyIdentifier, `pin-source=file:${join(credentials, pinCredentialName)}`, 'the engine reads the same credential');
});
