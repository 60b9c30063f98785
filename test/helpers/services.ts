// The appliance's processes as a user runs them: the console with piped input as a
// given administrator, and a service started until its pid file names it.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { compiled } from './state.js';

/** The console with `lines` on standard input (env: the state folder, APPLIANCE_USER, …); resolves with what it printed. */
export function pipedConsole(env: NodeJS.ProcessEnv, lines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [compiled('fipsconsole/console.js')], { env });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.on('exit', () => resolve(output));
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

/**
 * Starts a service (`module` under dist/, e.g. mail/gateway-service.js) and waits until its
 * pid file names it (a stopping predecessor's file may still be there). It is stopped when
 * `owner` ends; `check` records that it started.
 */
export async function startService(check: Test, owner: Test, env: NodeJS.ProcessEnv & { APPLIANCE_STATE_DIR?: string }, name: string, module: string): Promise<ChildProcess> {
  const service = spawn(process.execPath, [compiled(module)], { env, stdio: 'ignore' });
  owner.teardown(() => service.kill('SIGTERM'));
  const pid = join(env.APPLIANCE_STATE_DIR ?? '', 'run', `${name}.pid`);
  const ours = () => existsSync(pid) && readFileSync(pid, 'utf8').trim() === String(service.pid);
  for (let i = 0; i < 300 && !ours(); i++) await new Promise((r) => setTimeout(r, 100));
  check.ok(ours(), `the ${name} service is running`);
  return service;
}
