// Requests from the console to a running service ("fetch this CRL now", "flush
// the queue"): the console writes run/<service>.requests/<id>.json and sends
// SIGUSR2; the service runs the named action and writes <id>.result.json, which
// the console waits for. Only actions the service registered can run.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileDurably } from './atomic-file.js';

export type ServiceAction = (payload: Record<string, unknown>) => Promise<unknown> | unknown;

interface Request {
  action: string;
  payload: Record<string, unknown>;
}

type Result = { ok: true; value: unknown } | { ok: false; error: string };

const requestsDir = (runDir: string, service: string) => join(runDir, `${service}.requests`);

/** In the service: runs every waiting request (call on SIGUSR2). */
export async function serveRequests(runDir: string, service: string, actions: Record<string, ServiceAction>): Promise<void> {
  const dir = requestsDir(runDir, service);
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.request.json'))) {
    const id = file.slice(0, -'.request.json'.length);
    let result: Result;
    try {
      const request = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Request;
      const action = actions[request.action];
      if (!action) throw new Error(`the ${service} service has no action "${request.action}"`);
      result = { ok: true, value: await action(request.payload) };
    } catch (err) {
      result = { ok: false, error: (err as Error).message };
    }
    rmSync(join(dir, file), { force: true });
    writeFileDurably(join(dir, `${id}.result.json`), JSON.stringify(result));
  }
}

export class ServiceUnavailable extends Error {}

/** In the console: asks the running service to act, and waits for its answer. */
export async function requestServiceAction(
  runDir: string,
  service: string,
  action: string,
  payload: Record<string, unknown>,
  timeoutMs = 120_000,
  onWait?: () => void,
): Promise<unknown> {
  const pidFile = join(runDir, `${service}.pid`);
  const pid = existsSync(pidFile) ? Number.parseInt(readFileSync(pidFile, 'utf8'), 10) : Number.NaN;
  if (!Number.isInteger(pid)) throw new ServiceUnavailable(`the ${service} service is not running`);
  const dir = requestsDir(runDir, service);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const id = randomUUID();
  writeFileDurably(join(dir, `${id}.request.json`), JSON.stringify({ action, payload } satisfies Request));
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    rmSync(join(dir, `${id}.request.json`), { force: true });
    throw new ServiceUnavailable(`the ${service} service is not running`);
  }
  const resultFile = join(dir, `${id}.result.json`);
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(resultFile)) {
    if (Date.now() > deadline) throw new ServiceUnavailable(`the ${service} service did not answer within ${timeoutMs / 1000} s`);
    onWait?.();
    await sleep(250);
  }
  const result = JSON.parse(readFileSync(resultFile, 'utf8')) as Result;
  rmSync(resultFile, { force: true });
  if (!result.ok) throw new Error(result.error);
  return result.value;
}
