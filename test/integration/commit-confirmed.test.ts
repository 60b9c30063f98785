// `commit confirmed` across processes, as an administrator meets it: a console commits
// confirmed and leaves; the system service reverts at the deadline with nobody connected;
// the running gateway serves the old listener settings again. Takes about 70 s: the
// shortest confirmation is one minute.
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../helpers/gateway.js';
import { pipedConsole, startService } from '../helpers/services.js';
import { initialisedToken } from '../helpers/softhsm.js';

const token = await initialisedToken(t);
const env = { ...token.env, APPLIANCE_USER: 'admin', LOG_LEVEL: 'warn' };
const consoleRun = (lines: string[]) => pipedConsole(env, lines);

/** The first line a listener sends, or the error of trying. */
function banner(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(5000, () => socket.destroy(new Error('no banner')));
    socket.once('data', (d) => {
      resolve(d.toString().trim());
      socket.end('QUIT\r\n');
    });
    socket.once('error', (err) => resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  });
}

async function eventually(what: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return what();
}

t.test('commit confirmed reverts at its deadline with no console connected, and every service follows', async (t) => {
  const oldPort = await freePort();
  const newPort = await freePort();
  t.match(await consoleRun([`listenerconfig new Inbound public address=127.0.0.1 port=${oldPort}`, 'commit first listener']), /Committed revision 2\./);
  await startService(t, t, env, 'system', 'os/system-service.js');
  await startService(t, t, env, 'gateway', 'mail/gateway-service.js');
  t.ok(await eventually(async () => /^220 /.test(await banner(oldPort)), 20_000), 'the gateway serves the committed listener');

  const committed = await consoleRun([`listenerconfig edit Inbound port=${newPort}`, 'systemconfig edit hostname=changed.example.test', 'commit confirmed 1 try the new port']);
  t.match(committed, /Committed revision 3\./, committed);
  t.match(committed, /Run "commit" again within 1 minute/);
  t.ok(await eventually(async () => /^220 /.test(await banner(newPort)), 20_000), 'the gateway serves the unconfirmed change');
  t.match(await consoleRun(['status']), /Awaiting confirmation: revision 3, reverted to 2 at/, 'status shows the pending confirmation');

  // Nobody confirms. The deadline is a minute after the commit; the system service reverts it.
  const reverted = await eventually(async () => /^220 /.test(await banner(oldPort)), 90_000);
  t.ok(reverted, 'after the deadline the gateway serves the old listener again');
  t.match(await banner(newPort), /^error: ECONNREFUSED/, 'and no longer the unconfirmed one');
  const status = await consoleRun(['status', 'history 2']);
  t.notMatch(status, /Awaiting confirmation/, status);
  t.match(status, /Hostname: appliance\.localdomain/, 'the hostname is the old one');
  t.match(status, /Running revision: 4 \(\S+ by system via system\)/);
  t.match(status, /4 {2}\S+ {2}system via system {2}commit confirmed of revision 3 reverted to revision 2: not confirmed by/);
  const audit = readFileSync(join(token.root, 'logs', 'cli_logs', 'cli_logs.current'), 'utf8');
  t.match(audit, /System reverted revision 3 to revision 2 as revision 4/, 'an audit line records the revert');
  const system = readdirSync(join(token.root, 'logs')).flatMap((d) => readdirSync(join(token.root, 'logs', d)).map((f) => readFileSync(join(token.root, 'logs', d, f), 'utf8')));
  t.ok(
    system.some((text) => /Alert \(warning, system\): configuration reverted to revision 2/.test(text)),
    'an alert says the configuration was reverted',
  );
});

t.test('a commit confirmed with no system service running says nothing would revert it', async (t) => {
  const output = await consoleRun(['systemconfig edit hostname=lonely.example.test', 'commit confirmed 5']);
  t.match(output, /Committed revision \d+\./);
  t.match(output, /the system service is not running: nothing reverts this commit at its deadline/, output);
  t.match(await consoleRun(['commit']), /Confirmed revision \d+/);
});
