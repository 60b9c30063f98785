// Mail flow policies as a sender meets them: relaying, authentication
// requirements, size and count limits, connection behaviours, the mail log,
// and a commit that changes a policy while a session is open.
import { readdirSync } from 'node:fs';
import t, { type Test } from 'tap';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway, swaks } from '../helpers/gateway.js';

const fixture = await gatewayFixture(t);
const defaults = {
  connection: 'accept' as const,
  maxMessageBytes: 20_000,
  maxRecipientsPerMessage: 2,
  maxMessagesPerConnection: 2,
  tls: 'preferred' as const,
  smtpAuth: 'off' as const,
};

async function gatewayWith(t: Test, policies: { name: string; [k: string]: unknown }[], hat: { name: string; entries: string[]; policy: string }[] = []) {
  const port = await freePort();
  const started = await startGateway(t, fixture, {
    listeners: listenerConfig(port, { policies: policies as never, hostAccessTable: hat }),
  });
  return { port, ...started };
}

t.test('relaying is allowed only as the policy says', async (t) => {
  const { port } = await gatewayWith(t, [{ name: 'DEFAULT', ...defaults }]);
  const local = await swaks({ port, to: 'jane.roe@example.com' });
  t.equal(local.code, 0, 'mail for an accepted domain is taken');
  const relay = await swaks({ port, to: 'someone@elsewhere.example.net' });
  t.match(relay.output, /<\*\* +550 5\.7\.1 Relaying denied/, 'relaying for another domain is denied');

  const relaying = await gatewayWith(
    t,
    [
      { name: 'DEFAULT', ...defaults },
      { name: 'RELAYED', connection: 'relay' },
    ],
    [{ name: 'RELAYLIST', entries: ['127.0.0.0/8'], policy: 'RELAYED' }],
  );
  const relayed = await swaks({ port: relaying.port, to: 'someone@elsewhere.example.net' });
  t.equal(relayed.code, 0, 'a RELAYLIST sender may relay');
  t.match(relaying.mailLog(), /ICID \d+ RELAY SG RELAYLIST policy RELAYED/);
});

t.test('where authentication could allow relaying, an unauthenticated relay gets 530 5.7.0', async (t) => {
  const { port } = await gatewayWith(t, [{ name: 'DEFAULT', ...defaults, smtpAuth: 'preferred' }]);
  const result = await swaks({ port, to: 'someone@elsewhere.example.net' });
  t.match(result.output, /<\*\* +530 5\.7\.0 Authentication required/);
});

t.test('SMTP authentication required refuses MAIL FROM until authenticated', async (t) => {
  const { port } = await gatewayWith(t, [{ name: 'DEFAULT', ...defaults, smtpAuth: 'required' }]);
  const result = await swaks({ port });
  t.match(result.output, /<\*\* +530 5\.7\.0 Authentication required/);
});

t.test('AUTH before TLS, where the policy requires TLS for authentication, gets 538 5.7.11', async (t) => {
  const port = await freePort();
  const base = (await import('../helpers/configs.js')).sampleConfig();
  await startGateway(t, fixture, {
    ldap: base.ldap,
    smtpAuth: base.smtpAuth,
    listeners: listenerConfig(port, { smtpAuthProfile: 'ldap-auth', policies: [{ name: 'DEFAULT', ...defaults, smtpAuth: 'preferred', requireTlsForSmtpAuth: true }] }),
  });
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  t.notMatch(await smtp.command('EHLO client.example.com'), /250[- ]AUTH/, 'AUTH is not offered before TLS (smtpd_tls_auth_only)');
  t.equal(await smtp.command('AUTH PLAIN AGpvaG4Ac2VjcmV0'), '538 5.7.11 Encryption required for requested authentication mechanism');
});

t.test('message size: SIZE over the limit, and a message growing past it', async (t) => {
  const { port, mailLog, spool } = await gatewayWith(t, [{ name: 'DEFAULT', ...defaults }]);
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  t.match(await smtp.command('EHLO client.example.com'), /250 SIZE 20000/, 'SIZE is advertised');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com> SIZE=50000'), /^552 5\.3\.4 .*maximum message size.* 20000/);

  const before = readdirSync(spool.incoming).length;
  const big = await swaks({ port, body: 'x'.repeat(60_000) });
  t.match(big.output, /<\*\* +552 5\.3\.4 Message size exceeds fixed maximum message size of 20000 bytes/, 'the reply comes after the final dot');
  t.equal(readdirSync(spool.incoming).length, before, 'nothing of it is kept');
  t.match(mailLog(), /MID \d+ ICID \d+ rejected: message size \d+ bytes exceeds the limit of 20000/, 'the event is logged');
  const after = await swaks({ port });
  t.equal(after.code, 0, 'the gateway goes on accepting mail');
});

t.test('recipients per message and messages per connection', async (t) => {
  const { port } = await gatewayWith(t, [{ name: 'DEFAULT', ...defaults }]);
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  const send = async () => {
    await smtp.command('MAIL FROM:<john.doe@example.com>');
    await smtp.command('RCPT TO:<a@example.com>');
    await smtp.command('RCPT TO:<b@example.com>');
    t.equal(await smtp.command('RCPT TO:<c@example.com>'), '452 4.5.3 Too many recipients: at most 2 per message');
    t.match(await smtp.command('DATA'), /^354/);
    return smtp.command('Subject: hi\r\n\r\nhello\r\n.');
  };
  t.match(await send(), /^250 2\.0\.0 Ok: queued as \d+$/);
  t.match(await send(), /^250 2\.0\.0 Ok: queued as \d+$/);
  t.equal(await smtp.command('MAIL FROM:<john.doe@example.com>'), '421 4.7.0 Too many messages in this connection (at most 2); reconnect to send more');
});

t.test('reject and TCP refuse', async (t) => {
  const rejecting = await gatewayWith(
    t,
    [
      { name: 'DEFAULT', ...defaults },
      { name: 'BLOCKED', connection: 'reject' },
    ],
    [{ name: 'BLOCKLIST', entries: ['127.0.0.1'], policy: 'BLOCKED' }],
  );
  const smtp = await RawSmtp.connect(rejecting.port);
  t.teardown(() => smtp.close());
  t.equal(await smtp.reply(), '554 5.7.1 Access denied', 'a rejected sender gets 554 instead of the banner');

  const refusing = await gatewayWith(
    t,
    [
      { name: 'DEFAULT', ...defaults },
      { name: 'REFUSED', connection: 'tcp-refuse' },
    ],
    [{ name: 'BLOCKLIST', entries: ['127.0.0.1-127.0.0.2'], policy: 'REFUSED' }],
  );
  const refused = await swaks({ port: refusing.port });
  t.not(refused.code, 0);
  t.notMatch(refused.output, /220 /, 'no banner: the connection is closed at once');
  t.match(refusing.mailLog(), /ICID \d+ TCP-REFUSE SG BLOCKLIST policy REFUSED/);
});

t.test('the connection limit answers 421 4.3.2', async (t) => {
  const port = await freePort();
  await startGateway(t, fixture, { listeners: listenerConfig(port, { maxConnections: 1, policies: [{ name: 'DEFAULT', ...defaults }] }) });
  const first = await RawSmtp.connect(port);
  t.teardown(() => first.close());
  t.match(await first.reply(), /^220 /);
  const second = await RawSmtp.connect(port);
  t.teardown(() => second.close());
  t.equal(await second.reply(), '421 4.3.2 Too many connections, try again later');
});

t.test('every connection is logged with ICID, IP, sender group, policy and outcome', async (t) => {
  const { port, mailLog } = await gatewayWith(
    t,
    [
      { name: 'DEFAULT', ...defaults },
      { name: 'TRUSTED', connection: 'accept' },
    ],
    [{ name: 'ALLOWLIST', entries: ['127.0.0.0/24'], policy: 'TRUSTED' }],
  );
  await swaks({ port, tls: 'starttls' });
  const log = mailLog();
  const icid = [...log.matchAll(/New SMTP ICID (\d+) interface OutgoingMail \(127\.0\.0\.1:\d+\) address 127\.0\.0\.1/g)].at(-1)?.[1];
  t.ok(icid, 'a new-connection line with its ICID and address');
  t.match(log, new RegExp(`ICID ${icid} ACCEPT SG ALLOWLIST policy TRUSTED`));
  t.match(log, new RegExp(`ICID ${icid} TLS success protocol TLSv1\\.3`));
  const mid = new RegExp(`Start MID (\\d+) ICID ${icid}`).exec(log)?.[1];
  t.match(log, new RegExp(`MID ${mid} ICID ${icid} From: <john\\.doe@example\\.com>`));
  t.match(log, new RegExp(`MID ${mid} ICID ${icid} RID 0 To: <jane\\.roe@example\\.com>`));
  t.match(log, new RegExp(`MID ${mid} ICID ${icid} ready \\d+ bytes from <john\\.doe@example\\.com>`));
  t.match(log, new RegExp(`ICID ${icid} close`));
});

t.test('a committed policy change is live for new connections while an open session finishes on the old one', async (t) => {
  const port = await freePort();
  const { gateway, config } = await startGateway(t, fixture, { listeners: listenerConfig(port, { policies: [{ name: 'DEFAULT', ...defaults }] }) });
  const open = await RawSmtp.connect(port);
  t.teardown(() => open.close());
  await open.reply();
  await open.command('EHLO client.example.com');

  const changed = structuredClone(config);
  changed.listeners[0]!.policies[0]!.maxMessageBytes = 1000;
  await gateway.apply(changed);

  const fresh = await RawSmtp.connect(port);
  t.teardown(() => fresh.close());
  await fresh.reply();
  t.match(await fresh.command('EHLO client.example.com'), /250 SIZE 1000/, 'a new connection gets the new limit');
  t.equal(await open.command('MAIL FROM:<john.doe@example.com> SIZE=5000'), '250 2.1.0 Accepted', 'the open session keeps the limit it started with');
  await open.command('RCPT TO:<jane.roe@example.com>');
  await open.command('DATA');
  t.match(await open.command(`Subject: old policy\r\n\r\n${`${'y'.repeat(75)}\r\n`.repeat(40)}.`), /^250 2\.0\.0 Ok: queued as/, 'and completes its message');
});

t.test('a spool below its free-space reserve refuses new mail with 452 4.3.1 and keeps what it holds', async (t) => {
  const port = await freePort();
  const { gateway, config, spool, mailLog } = await startGateway(t, fixture, { listeners: listenerConfig(port, { policies: [{ name: 'DEFAULT', ...defaults }] }) });
  t.equal((await swaks({ port })).code, 0, 'with room, mail is taken');
  const held = readdirSync(spool.incoming).filter((f) => f.endsWith('.msg'));
  const full = structuredClone(config);
  full.system.spoolReserveMegabytes = 1_000_000; // more than this disk has free: the spool counts as full
  await gateway.apply(full);
  const refused = await swaks({ port });
  t.match(refused.output, /<\*\* +452 4\.3\.1 Insufficient system storage, try again later/);
  t.match(mailLog(), /MAIL FROM refused: the spool is below its reserve of 1000000 MB free/);
  t.same(
    readdirSync(spool.incoming).filter((f) => f.endsWith('.msg')),
    held,
    'what was accepted is still there',
  );
});
