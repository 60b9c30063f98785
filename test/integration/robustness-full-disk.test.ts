// Full disk: the spool folder on an 8 MB tmpfs. Below the free-space reserve
// new mail gets 452 4.3.1; a disk that fills up while a message is being
// written gives a 4xx after the final dot (never 250) and leaves no part of it
// behind; what was accepted before stays intact and is delivered once there is
// room again, and mail is then accepted again.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Delivery } from '../../src/mail/delivery/delivery.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway, swaks } from '../helpers/gateway.js';
import { NextHop, until } from './delivery-fixture.js';

process.env.LOG_LEVEL ??= 'silent';
const fixture = await gatewayFixture(t);
const { token } = fixture;
const spoolDir = join(token.root, 'spool');
mkdirSync(spoolDir, { recursive: true });
let cannotMount: string | false = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', spoolDir], { stdio: 'pipe' });
  // Lazy: the gateway's files may still be open when the teardown runs.
  t.teardown(() => execFileSync('umount', ['-l', spoolDir], { stdio: 'pipe' }));
} catch (err) {
  cannotMount = `a tmpfs cannot be mounted here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
}

const free = () => {
  const stats = statfsSync(spoolDir);
  return stats.bavail * stats.bsize;
};

/** Takes the disk's free space down to about `leave` bytes; a filler file stands in for other mail. */
function fillLeaving(name: string, leave: number): void {
  const fd = openSync(join(spoolDir, name), 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x66);
  try {
    while (free() > leave) writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(4096, free() - leave)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

const bodyFile = (kb: number, mark: string) => {
  const path = join(token.root, `body-${mark}.txt`);
  writeFileSync(path, `${mark}\r\n${`${mark} `.padEnd(78, '.')}\r\n`.repeat(Math.ceil((kb * 1024) / 80)));
  return path;
};

t.test('a full spool: 452 4.3.1 for new mail, nothing accepted is lost, mail flows again once there is room', { skip: cannotMount }, async (t) => {
  const port = await freePort();
  const hop = await NextHop.start(t);
  // The next hop is away while the disk fills: what was accepted waits in the queue, which cannot record much meanwhile.
  hop.rcpt = () => ({ code: 451, message: '4.3.0 Try again later' });
  const { config, mailLog } = await startGateway(t, fixture, {
    system: { ...token.runtime.config.system, hostname: 'mail.example.com', spoolReserveMegabytes: 1 },
    listeners: listenerConfig(port, {
      policies: [
        { name: 'DEFAULT', connection: 'accept', maxMessageBytes: 4_000_000, maxRecipientsPerMessage: 5, maxMessagesPerConnection: 10, tls: 'preferred', smtpAuth: 'off' },
      ],
    }),
    routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
  });
  const delivery = new Delivery({
    spoolDir,
    config: () => config,
    logs: token.runtime.logs,
    scanMs: 50,
    retry: { firstMs: 200, maxMs: 500 },
    timeouts: { connectMs: 3000, greetingMs: 3000, socketMs: 5000 },
  });
  delivery.start();
  t.teardown(() => delivery.stop());
  const snapshot = () =>
    new Map(
      ['incoming', 'active', 'deferred'].flatMap((folder) =>
        readdirSync(join(spoolDir, folder))
          .filter((f) => f.endsWith('.msg'))
          .map(
            (f) =>
              [
                f,
                createHash('sha256')
                  .update(readFileSync(join(spoolDir, folder, f)))
                  .digest('hex'),
              ] as const,
          ),
      ),
    );
  /** The queued messages and their contents; a message moving between folders meanwhile is looked for again. */
  const queued = () => {
    let last = snapshot();
    for (let i = 0; i < 20; i++) {
      const next = snapshot();
      if ([...next.keys()].join() === [...last.keys()].join()) return next;
      last = next;
    }
    return last;
  };

  for (const mark of ['first', 'second', 'third']) {
    const sent = await swaks({ port, body: `@${bodyFile(300, mark)}`, extra: ['--header', `Subject: ${mark}`] });
    t.match(sent.output, /<- +250 2\.0\.0 Ok: queued as \d+/, `with room, the ${mark} message is taken`);
  }
  await until('the three messages are queued', () => queued().size === 3);
  const accepted = queued();

  fillLeaving('filler-1', 512 * 1024);
  const refused = await swaks({ port, body: `@${bodyFile(10, 'refused')}` });
  t.match(refused.output, /<\*\* +452 4\.3\.1 Insufficient system storage, try again later/, 'below the 1 MB reserve, MAIL FROM gets 452 4.3.1');
  t.match(mailLog(), /MAIL FROM refused: the spool is below its reserve of 1 MB free/, 'the mail log says why');

  // Room above the reserve at MAIL FROM, then something else takes the disk while the message comes in.
  rmSync(join(spoolDir, 'filler-1'));
  fillLeaving('filler-1', 2 * 1024 * 1024);
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^250 /, 'MAIL FROM passes the reserve check');
  await smtp.command('RCPT TO:<jane.roe@example.com>');
  t.match(await smtp.command('DATA'), /^354 /, 'DATA goes ahead');
  smtp.write(`Subject: cut off\r\n\r\n${'x'.repeat(76)}\r\n`);
  fillLeaving('filler-2', 0);
  t.ok(free() < 64 * 1024, `the disk is full (${free()} bytes left)`);
  smtp.write(`${`${'y'.repeat(78)}\r\n`.repeat(20_000)}.\r\n`);
  const reply = await smtp.reply(15_000);
  t.match(reply, /^452 4\.3\.1 /, `a disk that fills during DATA gives 452 4.3.1, not 250 (${reply})`);
  t.match(await smtp.command('RSET'), /^250 /, 'the session goes on');
  t.match(mailLog(), /not accepted: spool write failed \(ENOSPC/, 'the mail log says why');
  t.same(
    ['incoming', 'active', 'deferred'].flatMap((folder) => readdirSync(join(spoolDir, folder)).filter((f) => !accepted.has(f))),
    [],
    'nothing of the cut-off message is left in the spool: no file to deliver, no temporary',
  );
  t.same(queued(), accepted, 'the messages accepted before are intact');

  await new Promise((resolve) => setTimeout(resolve, 1000)); // delivery attempts on the full disk
  t.same(queued(), accepted, 'the queued messages are intact while the disk stays full');

  rmSync(join(spoolDir, 'filler-1'));
  rmSync(join(spoolDir, 'filler-2'));
  hop.rcpt = () => undefined;
  const again = await swaks({ port, body: `@${bodyFile(300, 'fourth')}`, extra: ['--header', 'Subject: fourth'] });
  t.match(again.output, /<- +250 2\.0\.0 Ok: queued as \d+/, 'with room again, mail is taken');

  const subjects = () => new Set(hop.received.map((m) => /^Subject: (\w+)/m.exec(m.data)?.[1]));
  await until('every accepted message is delivered', () => ['first', 'second', 'third', 'fourth'].every((s) => subjects().has(s)), 20_000).catch(() => {});
  t.same([...subjects()].sort(), ['first', 'fourth', 'second', 'third'], 'every accepted message was delivered, and the cut-off one never');
  const temporaries = readdirSync(spoolDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp'));
  t.same(temporaries, [], 'no failed write left a temporary file behind anywhere in the spool');
  for (const m of hop.received) {
    const mark = /^Subject: (\w+)/m.exec(m.data)?.[1] ?? '';
    t.ok(m.data.includes(readFileSync(join(token.root, `body-${mark}.txt`), 'utf8').trimEnd()), `the ${mark} message arrived whole`);
  }
});
