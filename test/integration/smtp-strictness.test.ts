// Protocol strictness as an attacker meets it, over real sockets against a
// real gateway: AUTH before TLS, unknown and malformed MAIL/RCPT parameters,
// message text pipelined before 354 (SMTP smuggling), bare LF and bare CR,
// over-long lines and NUL; each refusal checked in the reply AND in the spool.
// Then the delivery side: SMTPUTF8 mail to a next hop without SMTPUTF8 bounces
// with 5.6.7, and forged Authentication-Results in our name are removed.
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { sampleConfig } from '../helpers/configs.js';
import { consoleSession } from '../helpers/console.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway, swaks } from '../helpers/gateway.js';
import { blankToken } from '../helpers/softhsm.js';
import { deliveryFixture, message, NextHop, until } from './delivery-fixture.js';

const fixture = await gatewayFixture(t);
const publicPort = await freePort();
const privatePort = await freePort();
const defaults = {
  name: 'DEFAULT',
  connection: 'accept' as const,
  maxMessageBytes: 100_000,
  maxRecipientsPerMessage: 5,
  maxMessagesPerConnection: 10,
  tls: 'preferred' as const,
  smtpAuth: 'off' as const,
};
const base = sampleConfig();
const { spool, mailLog } = await startGateway(t, fixture, {
  ldap: base.ldap,
  smtpAuth: base.smtpAuth,
  listeners: [
    ...(listenerConfig(publicPort, {
      name: 'IncomingMail',
      type: 'public',
      smtpAuthProfile: 'ldap-auth',
      policies: [{ ...defaults, smtpAuth: 'preferred', requireTlsForSmtpAuth: true }],
    }) ?? []),
    ...(listenerConfig(privatePort, { policies: [defaults] }) ?? []),
  ],
});

const queued = () => readdirSync(spool.incoming).filter((f) => f.endsWith('.msg'));
const leftovers = () => readdirSync(spool.incoming).filter((f) => f.endsWith('.tmp'));

/** Sends raw bytes after the greeting; collects everything until the server closes or `ms` pass. */
function exchange(port: number, payload: Buffer | string, ms = 2000): Promise<{ replies: string; closed: boolean }> {
  return new Promise((resolve) => {
    let replies = '';
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (d) => {
      if (!replies) socket.write(payload);
      replies += d.toString('latin1');
    });
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ replies, closed });
    }, ms);
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ replies, closed });
    });
  });
}

const codes = (replies: string) =>
  replies
    .split('\r\n')
    .map((l) => /^(\d{3})(?: ([245]\.\d{1,3}\.\d{1,3}))? /.exec(l))
    .filter((m) => m !== null)
    .map((m) => (m[2] ? `${m[1]} ${m[2]}` : m[1]));

async function session(t: Test, port: number): Promise<RawSmtp> {
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  return smtp;
}

t.test('AUTH is not offered before STARTTLS where the policy wants TLS for it; AUTH then gets 538 5.7.11', async (t) => {
  const smtp = await RawSmtp.connect(publicPort);
  t.teardown(() => smtp.close());
  await smtp.reply();
  const plain = await smtp.command('EHLO client.example.com');
  t.notMatch(plain, /250[- ]AUTH/, 'no AUTH in the EHLO reply in clear text');
  t.match(plain, /250-STARTTLS/);
  t.equal(await smtp.command('AUTH PLAIN AGpvaG4Ac2VjcmV0'), '538 5.7.11 Encryption required for requested authentication mechanism');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> AUTH=<>'), /^555 5\.5\.4 /, 'nor AUTH= on MAIL FROM, since AUTH is not offered');
  t.match(await smtp.command('STARTTLS'), /^220 /);
  await smtp.startTls();
  t.match(await smtp.command('EHLO client.example.com'), /250-AUTH PLAIN LOGIN/, 'inside TLS, AUTH is offered');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> AUTH=<>'), /^250 /, 'and AUTH=<> is taken');
  const swaksPlain = await swaks({ port: publicPort, extra: ['--auth', 'PLAIN', '--auth-user', 'john', '--auth-password', 'secret'] });
  t.match(swaksPlain.output, /Host did not advertise authentication/, 'swaks sees no AUTH to use without TLS');
});

t.test('MAIL and RCPT parameters: unknown 555 5.5.4, malformed 501 5.5.4, the known ones work', async (t) => {
  const before = queued().length;
  const smtp = await RawSmtp.connect(privatePort);
  t.teardown(() => smtp.close());
  await smtp.reply();
  const ehlo = await smtp.command('EHLO client.example.com');
  t.match(ehlo, /250-8BITMIME[\s\S]*250-SMTPUTF8[\s\S]*250 SIZE 100000/);
  t.notMatch(ehlo, /DSN|REQUIRETLS|AUTH/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> XFOO=1'), /^555 5\.5\.4 Unsupported MAIL FROM parameter XFOO/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> HOLDFOR=60'), /^555 5\.5\.4 /, "another MTA's extension");
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> SIZE=abc'), /^501 5\.5\.4 Bad SIZE parameter/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> BODY=BINARYMIME'), /^501 5\.5\.4 Bad BODY parameter/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> REQUIRETLS'), /^555 5\.5\.4 /, 'REQUIRETLS is not offered');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> RET=HDRS'), /^555 5\.5\.4 Unsupported MAIL FROM parameter RET/, 'nor DSN: the EHLO reply does not list it');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> AUTH=<>'), /^555 5\.5\.4 /, 'nor AUTH on this listener');
  t.match(await smtp.command('MAIL FROM:<jürgen@example.com>'), /^553 5\.6\.7 Must declare SMTPUTF8/, 'a UTF-8 address without SMTPUTF8');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> SIZE=100 BODY=8BITMIME SMTPUTF8'), /^250 /, 'the offered ones together');
  t.match(await smtp.command('RCPT TO:<jürgen@example.com>'), /^250 /, 'a UTF-8 recipient once SMTPUTF8 was declared');
  t.match(await smtp.command('RCPT TO:<jane.roe@example.com> XBAR'), /^555 5\.5\.4 Unsupported RCPT TO parameter XBAR/);
  t.match(await smtp.command('RCPT TO:<jane.roe@example.com> NOTIFY=SUCCESS'), /^555 5\.5\.4 /, 'DSN parameters are not offered');
  t.match(await smtp.command('RCPT TO:<jane.roe@example.com>'), /^250 /);
  t.match(await smtp.command('DATA'), /^354 /);
  t.match(await smtp.command('Subject: parameters\r\n\r\nhello\r\n.'), /^250 2\.0\.0 Ok: queued as/);
  t.equal(queued().length, before + 1, 'the message with known parameters is queued, and only it');
});

t.test('message text before the 354 reply: 554 5.5.0 and the connection closes, nothing is queued', async (t) => {
  const before = queued();
  const variants: [string, string][] = [
    ['the whole transaction in one write', 'Subject: smuggled\r\n\r\nbody\r\n.\r\n'],
    ['commands behind DATA', 'RSET\r\nQUIT\r\n'],
    ['a single byte behind DATA', 'x'],
  ];
  for (const [name, after] of variants) {
    for (const port of [publicPort, privatePort]) {
      const result = await new Promise<{ replies: string; closed: boolean }>((resolve) => {
        let text = '';
        let stage = 0;
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        socket.on('data', (d) => {
          text += d.toString('latin1');
          if (stage === 0 && /^220 /m.test(text)) {
            stage = 1;
            socket.write('EHLO client.example.com\r\n');
          } else if (stage === 1 && /^250 /m.test(text)) {
            stage = 2;
            // PIPELINING allows MAIL, RCPT and DATA in one group; what follows DATA must wait for 354.
            socket.write(`MAIL FROM:<john.doe@example.com>\r\nRCPT TO:<jane.roe@example.com>\r\nDATA\r\n${after}`);
          }
        });
        const timer = setTimeout(() => {
          socket.destroy();
          resolve({ replies: text, closed: false });
        }, 3000);
        socket.on('close', () => {
          clearTimeout(timer);
          resolve({ replies: text, closed: true });
        });
      });
      t.same(codes(result.replies).slice(-3), ['250 2.1.0', '250 2.1.5', '554 5.5.0'], `${name} (port ${port}): MAIL and RCPT taken, DATA refused`);
      t.notMatch(result.replies, /^354 /m, `${name}: no 354`);
      t.ok(result.closed, `${name}: the gateway closed the connection`);
    }
  }
  t.same(queued(), before, 'nothing was queued');
  t.match(mailLog(), /ICID \d+ protocol violation: 554 5\.5\.0 Error: SMTP protocol synchronization .* after "DATA"; closing/, 'the mail log says why');
  const pipelined = await swaks({ port: privatePort, extra: ['--pipeline'] });
  t.equal(pipelined.code, 0, 'a client that pipelines and waits for 354 (swaks --pipeline) is served');
  t.equal(queued().length, before.length + 1);
});

t.test('bare LF: refused on the public listener (550 5.5.2), stored as CRLF on the private one', async (t) => {
  const before = queued();
  const cmd = await exchange(publicPort, 'EHLO client.example.com\nMAIL FROM:<john.doe@example.com>\r\n');
  t.same(codes(cmd.replies), ['220', '550 5.5.2'], 'a command ending in a bare LF is refused');
  t.ok(cmd.closed, 'and the session is closed');
  t.match(mailLog(), /ICID \d+ protocol violation: 550 5\.5\.2 Error: bare <LF> received.* after "EHLO client\.example\.com"; closing/);
  const cr = await session(t, publicPort);
  cr.write('NOOP\rMAIL FROM:<x@example.com>\r\n');
  t.match(await cr.reply(), /^550 5\.5\.2 Error: bare <CR> received/, 'a bare CR inside a command line too');
  const early = await exchange(publicPort, 'EHLO client.example.com\r\nMAIL FROM:<john.doe@example.com>\r\n');
  t.same(codes(early.replies), ['220', '554 5.5.0'], 'a command pipelined behind EHLO: Postfix\'s "SMTP protocol synchronization"');

  // The smuggling attempt: a bare-LF "end of data" followed by a second transaction inside the first message.
  const smuggled = 'Subject: first\r\n\r\nhello\r\n\n.\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<jane.roe@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nwire money\r\n.\r\n';
  const pub = await session(t, publicPort);
  await pub.command('MAIL FROM:<john.doe@example.com>');
  await pub.command('RCPT TO:<jane.roe@example.com>');
  t.match(await pub.command('DATA'), /^354 /);
  pub.write(smuggled);
  t.match(await pub.reply(), /^550 5\.5\.2 Error: bare <LF> received/, 'the message is refused after the final dot');
  t.match(await pub.command('NOOP'), /^250 /, 'exactly one reply: the smuggled commands never ran');
  t.same(queued(), before, 'nothing was queued on the public listener');
  t.same(leftovers(), [], 'and no half-written file is left');
  t.match(mailLog(), /rejected: bare LF on line 4/);

  const priv = await session(t, privatePort);
  priv.write('NOOP\n');
  t.match(await priv.reply(), /^250 /, 'a bare-LF command is read as CRLF on the private listener');
  await priv.command('MAIL FROM:<john.doe@example.com>');
  await priv.command('RCPT TO:<jane.roe@example.com>');
  await priv.command('DATA');
  priv.write(smuggled);
  const accepted = await priv.reply();
  t.match(accepted, /^250 2\.0\.0 Ok: queued as (\d+)/, 'normalize accepts the message');
  t.match(await priv.command('NOOP'), /^250 /, 'one message, one reply: the smuggled part stays inside it');
  const mid = /queued as (\d+)/.exec(accepted)?.[1];
  const stored = readFileSync(join(spool.incoming, `${mid}.msg`), 'latin1');
  const body = stored.slice(stored.indexOf('\n') + 1);
  t.notMatch(body, /[^\r]\n/, 'stored with CRLF only');
  t.match(body, /hello\r\n\r\n\.\r\nMAIL FROM:<ceo@example\.com>/, 'the bare LF became CRLF, the rest is text of the one message');
  t.equal(queued().length, before.length + 1);
});

t.test('over-long lines: a command over 512 octets gets 500 5.5.2; a text line over 998 octets 550 5.6.0', async (t) => {
  const before = queued();
  const smtp = await session(t, publicPort);
  t.match(await smtp.command(`NOOP ${'x'.repeat(600)}`), /^500 5\.5\.2 Command line too long: at most 512 octets/);
  t.match(await smtp.command(`MAIL FROM:<${'a'.repeat(1500)}@example.com>`), /^500 5\.5\.2 Command line too long/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> SIZE=1000 BODY=8BITMIME'), /^250 /);
  t.match(await smtp.command('RCPT TO:<jane.roe@example.com>'), /^250 /);
  t.match(await smtp.command('DATA'), /^354 /);
  t.match(await smtp.command(`Subject: long\r\n\r\n${'y'.repeat(999)}\r\n.`), /^550 5\.6\.0 Message refused: line 3 is longer than 998 octets/);
  t.same(queued(), before, 'nothing was queued');
  const fits = await swaks({ port: publicPort, body: 'z'.repeat(998) });
  t.equal(fits.code, 0, 'a 998-octet line is fine');
  const tooLong = await swaks({ port: publicPort, body: 'z'.repeat(5000) });
  t.match(tooLong.output, /<\*\* +550 5\.6\.0 Message refused: line \d+ is longer than 998 octets/, 'swaks with a 5000-octet line');
  t.equal(queued().length, before.length + 1);
});

t.test('a NUL in the message is refused with 550 5.6.0 on either listener', async (t) => {
  const before = queued();
  for (const port of [publicPort, privatePort]) {
    const smtp = await session(t, port);
    await smtp.command('MAIL FROM:<john.doe@example.com>');
    await smtp.command('RCPT TO:<jane.roe@example.com>');
    await smtp.command('DATA');
    t.match(await smtp.command('Subject: nul\r\nX-Evil: a\u0000\r\nBcc: ceo@example.com\r\n\r\nbody\r\n.'), /^550 5\.6\.0 Message refused: it contains a NUL octet/);
    t.match(await smtp.command('RSET'), /^250 /, 'the session goes on');
  }
  t.same(queued(), before, 'nothing was queued');
  t.same(leftovers(), []);
});

t.test('delivery: mail that needs SMTPUTF8 bounces with 5.6.7 from a next hop that does not offer it', async (t) => {
  const hop = await NextHop.start(t, { noSmtpUtf8: true });
  const senders = await NextHop.start(t);
  const f = await deliveryFixture(t, {
    routes: {
      smtpRoutes: [
        { domain: 'example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
        { domain: '.example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
        { domain: 'example.com', hosts: [{ host: '127.0.0.1', port: senders.port, priority: 0 }] },
      ],
    },
  });
  const mid = await f.accept({ rcptTo: ['jürgen@example.org'], smtpUtf8: true }, message('utf8 local part'));
  const [dsn] = await senders.waitFor(1);
  t.match(dsn?.data, /Final-Recipient: rfc822; jürgen@example\.org\r\nAction: failed\r\nStatus: 5\.6\.7/, 'the bounce says 5.6.7');
  t.match(dsn?.data, /SMTPUTF8 is required, but was not offered by host 127\.0\.0\.1/);
  t.match(f.mailLog(), new RegExp(`was generated for bounce of MID ${mid}\\b`));
  t.equal(hop.received.length, 0, 'the next hop got nothing');

  const ascii = await f.accept({ rcptTo: ['jane@example.org'], smtpUtf8: true }, message('ascii only'));
  await hop.waitFor(1);
  t.match(hop.received[0]?.data, /Subject: ascii only/, `an all-ASCII message goes out although SMTPUTF8 was given (MID ${ascii})`);
  await until('one bounce only', () => senders.received.length === 1);

  await f.accept({ rcptTo: ['jane@bücher.example.org'] }, message('idn domain'));
  await hop.waitFor(2);
  const empty = () => ['incoming', 'active', 'deferred'].every((state) => f.delivery.store.list(state as 'incoming').length === 0);
  await until('the queue is empty', empty);
  t.equal(hop.received.length, 2, 'an internationalized domain is no reason to bounce: it goes out as an A-label');
  t.equal(senders.received.length, 1, 'and it was not bounced');
  t.match(f.mailLog(), /Message done DCID \d+ MID \d+ to RID \[0\]/, 'its outcome is found under the address it was queued with');
});

t.test('delivery: the "." line of a normalized smuggling attempt goes out dot-stuffed, one message at the next hop', async (t) => {
  const hop = await NextHop.start(t);
  const f = await deliveryFixture(t, { routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } });
  // What the private listener stored for the bare-LF attempt above: the "\\n." became a "." line of its own.
  await f.accept(
    { rcptTo: ['jane@example.org'] },
    `${message('normalized')}\r\n.\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n`,
  );
  await hop.waitFor(1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(hop.received.length, 1, 'one message arrived');
  t.match(hop.received[0]?.data, /\r\n\.\r\nMAIL FROM:<ceo@example\.com>/, 'the smuggled commands are text inside it');
  t.notOk(
    hop.received.some((m) => m.to.includes('victim@example.org')),
    'nothing reached the smuggled recipient',
  );
});

t.test('delivery: forged Authentication-Results in our name are removed by authserv-id, look-alikes stay', async (t) => {
  const hop = await NextHop.start(t);
  const f = await deliveryFixture(t, { routes: { defaultRoute: [{ host: '127.0.0.1', port: hop.port }] } });
  await f.accept(
    { rcptTo: ['c@example.org'] },
    message('forged', [
      'Authentication-Results: (a comment) MAIL.example.com; auth=pass smtp.auth=ceo',
      'Authentication-Results: "mail.example.com" 1;',
      '\tdkim=pass header.d=bank.example',
      'Authentication-Results: mail.example.com.evil; spf=pass smtp.mailfrom=evil',
      'Authentication-Results: other.example (mail.example.com); spf=pass',
    ]),
  );
  const [got] = await hop.waitFor(1);
  t.notMatch(got?.data, /smtp\.auth=ceo/, 'a comment before our id does not hide it');
  t.notMatch(got?.data, /bank\.example/, 'nor quoting it, nor folding');
  t.match(got?.data, /Authentication-Results: mail\.example\.com\.evil; spf=pass/, 'a look-alike id stays: it is not ours');
  t.match(got?.data, /Authentication-Results: other\.example \(mail\.example\.com\); spf=pass/, 'our name in a comment is not a claim');
});

t.test('the console shows and sets bareNewline like the other policy fields (last: it switches the SoftHSM configuration)', async (t) => {
  const token = await blankToken(t);
  const session = await consoleSession(token, [
    'listenerconfig new In public port=2525 address=127.0.0.1',
    'listenerconfig policy In fields DEFAULT',
    'listenerconfig policy In edit DEFAULT bareNewline=sometimes',
    'listenerconfig policy In edit DEFAULT bareNewline=normalize',
    'commit bare newline',
    'listenerconfig policy In show DEFAULT',
    'exit',
  ]);
  t.match(session.output, /bareNewline: one of reject, normalize/, 'listed among the fields');
  t.match(session.output, /the change was not made:\n\s+- listeners\.0\.policies\.0\.bareNewline: .*(reject|normalize)/, 'a bad value is refused, naming the allowed ones');
  t.match(session.output, /Committed revision/);
  t.match(session.output, /"bareNewline": "normalize"/, 'and shown once set');
});
