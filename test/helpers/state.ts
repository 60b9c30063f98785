// Test helpers: a fresh state folder per test, and the path of a compiled module
// for tests that must run code in a child process (to kill it, or restart it).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';

export function tempState(t: Test, prefix = 'appliance-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function compiled(modulePath: string): string {
  const path = resolve(import.meta.dirname, '../../dist', modulePath);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` before the tests (scripts/test does)`);
  return path;
}
