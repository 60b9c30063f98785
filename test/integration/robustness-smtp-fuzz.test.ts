// Hostile SMTP clients against a listener: random and malformed commands, 1 MB
// lines, NUL bytes, commands pipelined behind STARTTLS, a client that sends a
// byte at a time, and more idle connections than the listener takes. The
// fuzzer is seeded (FUZZ_SEED=… replays a run); the gateway must stay up, keep
// its memory bounded, answer in SMTP's reply format, and still deliver mail.
import { connect } from 'node:net';
import t from 'tap';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway, swaks } from '../helpers/gateway.js';
import { seededRandom } from '../helpers/seeded-random.js';

// A fixed seed by default keeps CI repeatable; FUZZ_SEED=random (or a number) explores further.
const seed = process.env.FUZZ_SEED === 'random' ? Date.now() % 1_000_000 : Number(process.env.FUZZ_SEED ?? 20261129);
t.comment(`FUZZ_SEED=${seed}`);

const { random, pick } = seededRandom(seed);

const verbs = ['EHLO', 'HELO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'AUTH PLAIN', 'AUTH LOGIN', 'STARTTLS', 'BDAT', 'XCLIENT', 'ETRN', 'QUIT'];
function fuzzLine(): string {
  const kind = random();
  if (kind < 0.3) return `${pick(verbs)} ${pick(['<a@example.com>', '<>', 'x', '<@>', '<"a b"@example.com>', '%00', 'SIZE=99999999999999999999', '<a@[127.0.0.1]>'])}`;
  if (kind < 0.5) return Array.from({ length: Math.floor(random() * 200) }, () => String.fromCharCode(Math.floor(random() * 256))).join('');
  if (kind < 0.6) return `${pick(verbs)}\u0000${'A'.repeat(Math.floor(random() * 100))}`;
  if (kind < 0.7) return `MAIL FROM:<${'a'.repeat(5000)}@example.com>`;
  return pick(verbs).toLowerCase();
}

const fixture = await gatewayFixture(t);
const port = await freePort();
const { mailLog } = await startGateway(t, fixture, {
  listeners: listenerConfig(port, {
    maxConnections: 30,
    // Everything here comes from one address, on purpose: the per-address abuse limits (error
    // sleep and hard limit, places per address) are kept out of the way so that the parser and
    // the listener's own limit are what is tested; robustness-auth-abuse.test.ts tests those.
    policies: [
      {
        name: 'DEFAULT',
        connection: 'accept',
        maxMessageBytes: 100_000,
        maxRecipientsPerMessage: 5,
        maxMessagesPerConnection: 3,
        tls: 'preferred',
        smtpAuth: 'off',
        errorSleepMs: 0,
        softErrorLimit: 99_999,
        hardErrorLimit: 100_000,
        connectionCountLimit: 29,
      },
    ],
  }),
});

function rssMb(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

/** After the greeting, sends raw bytes and collects what comes back until the server closes or `ms` pass. */
function exchange(payload: Buffer | string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (d) => {
      if (!reply) socket.write(payload);
      reply += d.toString('latin1');
    });
    socket.on('error', () => {});
    const done = () => resolve(reply);
    socket.on('close', done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, ms);
  });
}

t.test('random and malformed commands get well-formed replies and never take the listener down', async (t) => {
  const before = rssMb();
  const replies: string[] = [];
  for (let round = 0; round < 12; round++) {
    const batch = Array.from({ length: 10 }, () => {
      const lines = Array.from({ length: 1 + Math.floor(random() * 8) }, fuzzLine);
      return exchange(`${lines.join('\r\n')}\r\n`, 800);
    });
    replies.push(...(await Promise.all(batch)));
  }
  const lines = replies.flatMap((r) => r.split('\r\n')).filter(Boolean);
  const malformed = lines.filter((l) => !/^\d{3}[ -]/.test(l));
  t.same(malformed, [], `every reply line is "NNN text" (${lines.length} lines)`);
  // RFC 2034: replies to HELO/EHLO carry no enhanced code (the client cannot know yet that they are offered).
  const failures = lines.filter((l) => /^[45]\d\d /.test(l) && !/(HELO|EHLO|hostname)/i.test(l));
  const withoutEnhanced = failures.filter((l) => !/^[45]\d\d [45]\.\d{1,3}\.\d{1,3} /.test(l));
  t.same(withoutEnhanced, [], 'every failure reply carries an RFC 3463 enhanced status code');
  t.ok(rssMb() - before < 150, `memory stays bounded (${(rssMb() - before).toFixed(0)} MB growth)`);
});

t.test('a 1 MB line and NUL bytes', async (t) => {
  const huge = await exchange(`EHLO x\r\nMAIL FROM:<${'a'.repeat(1024 * 1024)}@example.com>\r\nNOOP\r\n`, 3000);
  t.match(huge, /^220 /, 'the server greeted');
  t.notMatch(huge, /250 2\.1\.0 Accepted/, 'the oversized address was not accepted');
  const nul = await exchange('EHLO x\u0000y\r\nNOOP\r\n', 1500);
  t.match(nul, /^220 /);
});

t.test('commands pipelined behind STARTTLS never run (the CVE-2011-0411 class)', async (t) => {
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  smtp.write('STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@example.com>\r\n');
  t.match(await smtp.reply(), /^220 /);
  await smtp.startTls();
  t.match(await smtp.command('EHLO client.example.com'), /^250-/);
  t.notMatch(mailLog(), /injected@evil\.example/);
});

t.test('a client sending one byte at a time, and more idle connections than allowed', async (t) => {
  const slow = new Promise<string>((resolve) => {
    let reply = '';
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (d) => {
      reply += d.toString('latin1');
    });
    socket.on('error', () => {});
    const bytes = [...'EHLO slow.example.com\r\nQUIT\r\n'];
    const tick = setInterval(() => {
      const next = bytes.shift();
      if (next === undefined) {
        clearInterval(tick);
        setTimeout(() => {
          socket.destroy();
          resolve(reply);
        }, 500);
      } else socket.write(next);
    }, 60);
  });
  const idle = await Promise.all(
    Array.from({ length: 40 }, () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      t.teardown(() => socket.destroy());
      return new Promise<string>((resolve) => {
        let first = '';
        socket.once('data', (d) => {
          first = d.toString('latin1');
          resolve(first);
        });
        setTimeout(() => resolve(first), 3000);
      });
    }),
  );
  t.ok(
    idle.some((r) => r.startsWith('421 4.3.2')),
    'connections past the limit are told to come back later',
  );
  t.match(await slow, /250-mail\.example\.com[\s\S]*221 /, 'the slow client is served');
});

t.test('after all that, mail still flows', async (t) => {
  await new Promise((r) => setTimeout(r, 500));
  const ok = await swaks({ port, tls: 'starttls' });
  t.equal(ok.code, 0, ok.output);
});
