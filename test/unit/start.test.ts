import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { tempState } from '../helpers/state.js';

t.test('scripts/start brings the appliance up, prints where things are, and Ctrl-C stops it cleanly', async (t) => {
  const root = tempState(t);
  const start = spawn(resolve(import.meta.dirname, '../../scripts/start'), [], { env: { ...process.env, APPLIANCE_STATE_DIR: root }, detached: true });
  let out = '';
  start.stdout.on('data', (d) => {
    out += d;
  });
  start.stderr.on('data', (d) => {
    out += d;
  });
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + 90_000;
    while (!pattern.test(out)) {
      if (Date.now() > deadline) throw new Error(`never saw ${pattern} in:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitFor(/appliance\.localdomain> $/);
  t.match(out, new RegExp(`state folder: +${root}`), 'says where the state is');
  t.match(out, /SoftHSM2: +SOFTHSM2_CONF=.*hsm\/softhsm2\.conf/, 'and where the SoftHSM2 token lives');
  t.ok(existsSync(join(root, 'hsm', 'softhsm2.conf')), 'the token folder is provisioned');
  t.ok(existsSync(join(root, 'run', 'system.pid')), 'the system service runs');
  start.stdin.write('status\n');
  await waitFor(/Running revision: 1/);
  const exited = new Promise<number | null>((r) => start.on('exit', r));
  process.kill(-start.pid!, 'SIGINT'); // what a terminal's Ctrl-C does: signal the whole foreground group
  t.equal(await exited, 0, 'exits cleanly');
  t.same(readdirSync(join(root, 'run')), [], 'every service stopped and removed its pid file');
  for (const path of ['logs/services', 'logs/services/system.log', 'logs/services/gateway.log', 'logs/system_logs', 'reports/smtp-auth.sqlite']) {
    if (!existsSync(join(root, path))) continue;
    const mode = statSync(join(root, path)).mode & 0o777;
    t.equal(mode & 0o077, 0, `${path} is not readable by other accounts (${mode.toString(8)})`);
  }
  t.ok(existsSync(join(root, 'logs/services/system.log')), 'the service output was checked');
});
