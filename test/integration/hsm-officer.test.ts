import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tap, { type Test } from 'tap';

const t = tap;

import { officerFor } from '../../src/hsm/context.js';
import { runOfficerProcess } from '../../src/hsm/officer-process.js';
import { SessionPool } from '../../src/hsm/pool.js';
import { blankToken, initialisedToken, officerPassword, pkcs11Tool, softhsmModule } from '../helpers/softhsm.js';
import { compiled } from '../helpers/state.js';

const fipsLog = (root: string) => readFileSync(join(root, 'logs', 'fips_logs', 'fips_logs.current'), 'utf8');

t.test('FIPS initialisation refuses a weak Officer password and initialises nothing', async (t) => {
  const token = await blankToken(t);
  const officer = officerFor(token.runtime);
  t.throws(() => officer.initialise('short1A!'), /at least 12 characters/);
  t.throws(() => officer.initialise('alllowercase-letters-1'), /upper-case letter/);
  t.throws(() => officer.initialise('NoDigitsHere-Anywhere'), /digit/);
  t.throws(() => officer.initialise('NoSymbols1234abcd'), /neither letter nor digit/);
  t.match(pkcs11Tool(token, ['-L']).output, /token state:\s+uninitialized/, 'the token is still blank');
  t.notOk(existsSync(token.files.userPin), 'no crypto-user PIN was made');
});

t.test('FIPS initialisation sets the SO PIN, makes a random crypto-user PIN readable by root only, and stores no Officer password', async (t) => {
  const token = await initialisedToken(t);
  t.equal(statSync(token.files.userPin).mode & 0o777, 0o600);
  t.ok(token.userPin.length >= 32, 'the PIN is long');
  const other = await initialisedToken(t);
  t.not(other.userPin, token.userPin, 'each initialisation draws a new PIN');
  t.match(pkcs11Tool(token, ['-L']).output, /token label\s+: appliance/);
  t.ok(pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).ok, 'the crypto user logs in with the stored PIN');
  // An SO login needs a read-write session: changing the SO PIN to itself proves it.
  const soLogin = (pin: string) => pkcs11Tool(token, ['--login', '--login-type', 'so', '--so-pin', pin, '--change-pin', '--new-pin', pin]).ok;
  t.ok(soLogin(officerPassword), 'the Officer password is the SO PIN');
  t.notOk(soLogin('Wrong-Horse-42'), 'and nothing else is');
  for (const file of readdirSync(token.root, { recursive: true, encoding: 'utf8' })) {
    const path = join(token.root, file);
    if (statSync(path).isFile()) t.notMatch(readFileSync(path, 'latin1'), officerPassword, `${file} does not hold the Officer password`);
  }
  t.throws(() => officerFor(token.runtime).initialise(officerPassword), /already initialised/, 'a second initialisation is refused');
});

t.test('a correct Officer password logs in and resets the failure count; a wrong one counts', async (t) => {
  const token = await initialisedToken(t);
  const officer = officerFor(token.runtime);
  t.same(await officer.login('Wrong-Password-1'), { ok: false, zeroized: false, remainingAttempts: 2 });
  t.same(await officer.login('Wrong-Password-2'), { ok: false, zeroized: false, remainingAttempts: 1 });
  t.equal(officer.failureCount(), 2);
  t.same(await officer.login(officerPassword), { ok: true });
  t.equal(officer.failureCount(), 0, 'success resets the count');
  t.same(await officer.login('Wrong-Password-3'), { ok: false, zeroized: false, remainingAttempts: 2 }, 'so two more failures are allowed');
  t.match(fipsLog(token.root), /FIPS Officer login failed \(1 of 3 consecutive failures\)[\s\S]*FIPS Officer login succeeded/);
  t.notOk(existsSync(token.files.rebootRequest));
});

async function tokenWithKey(t: Test) {
  const token = await initialisedToken(t);
  const made = pkcs11Tool(token, ['--login', '--pin', token.userPin, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'victim', '--id', '01']);
  t.ok(made.ok, made.ok ? 'a key is on the token' : made.output);
  t.match(pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output, /Private Key Object; EC[\s\S]*label:\s+victim/);
  return token;
}

function assertZeroized(t: Test, token: Awaited<ReturnType<typeof tokenWithKey>>, reason = /3 consecutive failed FIPS Officer logins/) {
  t.match(pkcs11Tool(token, ['-L']).output, /token state:\s+uninitialized/, 'the token is blank again');
  const listing = pkcs11Tool(token, ['--list-objects']).output;
  t.notMatch(listing, /Object;/, 'pkcs11-tool lists no objects');
  t.notOk(existsSync(token.files.userPin), 'the crypto-user PIN is gone');
  const reboot = JSON.parse(readFileSync(token.files.rebootRequest, 'utf8'));
  t.match(reboot.reason, /HSM zeroized/, 'a reboot is requested in run/');
  t.match(fipsLog(token.root), new RegExp(`Critical: HSM zeroized after ${reason.source}; reboot requested`), 'the FIPS log records it');
  const systemLog = readFileSync(join(token.root, 'logs', 'system_logs', 'system_logs.current'), 'utf8');
  t.match(systemLog, /Critical: Alert \(critical, fips\): HSM zeroized: reboot requested/, 'a critical alert is raised');
}

t.test('the third consecutive wrong Officer password zeroizes the HSM, requests a reboot and closes the session', async (t) => {
  const token = await tokenWithKey(t);
  const officer = officerFor(token.runtime);
  await officer.login('Wrong-Password-1');
  await officer.login('Wrong-Password-2');
  t.match(pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output, /victim/, 'two failures destroy nothing');
  const started = Date.now();
  t.same(await officer.login('Wrong-Password-3'), { ok: false, zeroized: true, rebootRequested: true, closeSession: true });
  t.ok(Date.now() - started < 5000, 'no delay between attempts');
  assertZeroized(t, token);
  t.equal(officer.failureCount(), 0, 'the count starts again on the blank token');
  await t.rejects(officer.login(officerPassword), /no initialised HSM token/, 'until FIPS initialisation there is nothing to log in to');
  t.equal(officer.failureCount(), 0, 'and that is not counted as a failure');
});

t.test('a restart grants no more tries: two failures, a new Officer process, one failure zeroizes', async (t) => {
  const token = await tokenWithKey(t);
  const script = compiled('hsm/officer-main.js');
  for (const n of [1, 2]) {
    t.match(await runOfficerProcess({ command: 'login', password: `Wrong-Password-${n}` }, { env: token.env, script }), { ok: false, zeroized: false, remainingAttempts: 3 - n });
  }
  t.equal(officerFor(token.runtime).failureCount(), 2, 'the count is on disk');
  t.match(await runOfficerProcess({ command: 'login', password: 'Wrong-Password-3' }, { env: token.env, script }), { ok: false, zeroized: true, closeSession: true });
  assertZeroized(t, token);
});

t.test('the count is on disk before the attempt: a third attempt that never reported back counts as failed', async (t) => {
  const token = await tokenWithKey(t);
  const officer = officerFor(token.runtime);
  await officer.login('Wrong-Password-1');
  await officer.login('Wrong-Password-2');
  // What a process killed during its third attempt leaves behind.
  writeFileSync(token.files.officerFailures, JSON.stringify({ consecutiveFailures: 3 }));
  t.match(await officer.login(officerPassword), { ok: false, zeroized: true }, 'even the right password cannot undo it');
  assertZeroized(t, token, /an interrupted third attempt was found on disk/);
});

t.test('the services keep their crypto-user login while the Officer works in its own process', async (t) => {
  const token = await initialisedToken(t);
  const pool = SessionPool.open({ modulePath: softhsmModule, tokenLabel: token.hsm.tokenLabel, userPin: token.userPin });
  t.teardown(() => pool.close());
  const script = compiled('hsm/officer-main.js');
  t.same(await runOfficerProcess({ command: 'login', password: officerPassword }, { env: token.env, script }), { ok: true });
  t.equal(await pool.run((session, lib) => lib.C_GetSessionInfo(session).state), 3 /* CKS_RW_USER_FUNCTIONS */, 'the pool is still logged in as the crypto user');
});

t.test('an Officer login waits while another console holds the count, so no attempt escapes it', async (t) => {
  const token = await initialisedToken(t);
  const officer = officerFor(token.runtime);
  const lock = `${token.files.officerFailures}.lock`;
  writeFileSync(lock, String(process.pid)); // another console, mid-attempt
  let released = 0;
  setTimeout(() => {
    released = Date.now();
    rmSync(lock, { force: true });
  }, 300);
  t.match(await officer.login('Wrong-Password-1'), { ok: false, remainingAttempts: 2 });
  t.ok(released > 0, 'the attempt was made only after the other console let go');
});
