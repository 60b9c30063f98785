import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { compiled, tempState } from '../helpers/state.js';

// A stand-in for systemd's notification socket: a real AF_UNIX datagram socket
// (Node has none, so python3 holds it) printing each message it receives.
function notifySocket(t: Test, path: string) {
  const receiver = spawn('python3', [
    '-u',
    '-c',
    `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1]); print('listening', flush=True)
while True: print(s.recv(4096).decode().replace('\\n','|'), flush=True)`,
    path,
  ]);
  t.teardown(() => receiver.kill());
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: receiver.stdout }).on('line', (line) => {
    messages.push(line);
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async (pattern: RegExp, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!messages.some((m) => pattern.test(m))) {
      if (Date.now() > deadline) throw new Error(`no notification matching ${pattern}; got ${JSON.stringify(messages)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return messages.find((m) => pattern.test(m))!;
  };
  return { messages, waitFor };
}

t.test('the system service speaks the systemd notify protocol', async (t) => {
  const root = tempState(t);
  const socketPath = join(root, 'notify.sock');
  const systemd = notifySocket(t, socketPath);
  await systemd.waitFor(/^listening$/);
  const service: ChildProcess = spawn(process.execPath, [compiled('os/system-service.js')], {
    env: { ...process.env, APPLIANCE_STATE_DIR: root, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '400000' },
    stdio: 'ignore',
  });
  t.teardown(() => service.kill('SIGKILL'));
  t.match(await systemd.waitFor(/READY=1/), /STATUS=running configuration revision 1/, 'READY=1 with a STATUS');
  await systemd.waitFor(/WATCHDOG=1/);
  const pings = () => systemd.messages.filter((m) => m.includes('WATCHDOG=1')).length;
  const before = pings();
  await new Promise((r) => setTimeout(r, 1000));
  t.ok(pings() - before >= 3, `watchdog pinged at half of WATCHDOG_USEC (${pings() - before} pings in 1 s)`);
  t.ok(existsSync(join(root, 'run', 'system.pid')), 'the service left its pid file for reload signals');

  const readyCount = () => systemd.messages.filter((m) => m.includes('READY=1')).length;
  service.kill('SIGHUP');
  await systemd.waitFor(/RELOADING=1\|MONOTONIC_USEC=\d+/);
  const deadline = Date.now() + 10_000;
  while (readyCount() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.equal(readyCount(), 2, 'READY=1 again after the reload');
  t.ok(systemd.messages.findIndex((m) => m.includes('RELOADING=1')) < systemd.messages.findLastIndex((m) => m.includes('READY=1')), 'RELOADING=1 comes before the second READY=1');

  const exited = new Promise<number | null>((r) => service.on('exit', r));
  service.kill('SIGTERM');
  await systemd.waitFor(/STOPPING=1/);
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  t.notOk(existsSync(join(root, 'run', 'system.pid')), 'and removes its pid file');
});

t.test('without NOTIFY_SOCKET the service runs and says nothing', async (t) => {
  const root = tempState(t);
  const { NOTIFY_SOCKET: _, ...env } = process.env;
  const service = spawn(process.execPath, [compiled('os/system-service.js')], { env: { ...env, APPLIANCE_STATE_DIR: root }, stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = await new Promise<string>((r) => createInterface({ input: service.stdout! }).once('line', r));
  t.match(JSON.parse(firstLine), { msg: 'system ready', status: 'running configuration revision 1' });
  const exited = new Promise<number | null>((r) => service.on('exit', r));
  service.kill('SIGINT');
  t.equal(await exited, 0);
});
