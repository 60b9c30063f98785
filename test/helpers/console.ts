// The console process driven as an administrator drives it: answers on standard input.
import { spawn } from 'node:child_process';
import type { TestToken } from './softhsm.js';
import { compiled } from './state.js';

const consoleJs = compiled('fipsconsole/console.js');

/** Runs the console with `lines` as the administrator's input; resolves with its output and exit code. */
export function consoleSession(token: Pick<TestToken, 'env'>, lines: string[], args: string[] = []): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [consoleJs, ...args], { env: { ...token.env, APPLIANCE_USER: 'officer1', SSH_CONNECTION: '192.0.2.44 50000 192.0.2.1 22' } });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}
