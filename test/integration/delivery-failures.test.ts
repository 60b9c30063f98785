// Failures as a sender notices them: a temporary failure is retried until the
// next hop takes the message; a permanent 5xx bounces at once with an RFC 3464
// report; a message that stays too long in the queue bounces; a bounce is
// never bounced again.
import t, { type Test } from 'tap';
import { deliveryFixture, message, NextHop, until } from './delivery-fixture.js';

async function setup(t: Test, maxQueueMs?: number) {
  const hop = await NextHop.start(t);
  const senders = await NextHop.start(t);
  const f = await deliveryFixture(
    t,
    {
      routes: {
        smtpRoutes: [
          { domain: 'example.org', hosts: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
          { domain: 'example.com', hosts: [{ host: '127.0.0.1', port: senders.port, priority: 0 }] },
        ],
      },
    },
    maxQueueMs ? { maxQueueMs } : {},
  );
  const empty = () => f.delivery.store.list('incoming').length + f.delivery.store.list('active').length + f.delivery.store.list('deferred').length === 0;
  return { hop, senders, f, empty };
}

t.test('a temporary failure is retried with back-off until the next hop takes the message', async (t) => {
  const { hop, senders, f, empty } = await setup(t);
  let refusals = 0;
  hop.rcpt = () => (refusals++ < 2 ? { code: 451, message: '4.3.0 try again later' } : undefined);
  const mid = await f.accept({ rcptTo: ['jane@example.org'] }, message('retried'));
  await hop.waitFor(1);
  await until('the queue is empty', empty);
  t.equal(refusals, 3, 'two refusals, then the third attempt went through');
  t.equal(hop.received.length, 1, 'delivered once');
  t.equal(senders.received.length, 0, 'no bounce');
  const delays = f.mailLog().match(new RegExp(`Delayed: DCID \\d+ MID ${mid} to RID 0 - 4\\.3\\.0`, 'g')) ?? [];
  t.equal(delays.length, 2, 'each temporary failure is in the mail log');
  const times = [...f.mailLog().matchAll(/deferred: next attempt at (\S+)/g)].map((m) => Date.parse(m[1] ?? ''));
  t.equal(times.length, 2);
});

t.test('a permanent 5xx bounces at once: the sender gets a delivery status notification', async (t) => {
  const { hop, senders, f, empty } = await setup(t);
  hop.rcpt = (address) => (address.startsWith('nobody') ? { code: 550, message: '5.1.1 no such user here' } : undefined);
  const mid = await f.accept({ rcptTo: ['jane@example.org', 'nobody@example.org'] }, message('half bounced'));
  const [dsn] = await senders.waitFor(1);
  await until('the queue is empty', empty);
  t.equal(hop.received.length, 1, 'the good recipient got it once');
  t.same(hop.received[0]?.to, ['jane@example.org']);
  t.equal(dsn?.from, '', 'the bounce has the null sender, so it can never bounce in turn');
  t.same(dsn?.to, ['john.doe@example.com']);
  const data = dsn?.data ?? '';
  t.match(data, /Content-Type: multipart\/report; report-type=delivery-status/);
  t.match(
    data,
    /Final-Recipient: rfc822; nobody@example\.org\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; 127\.0\.0\.1\r\nDiagnostic-Code: smtp; 550 5\.1\.1 no such user here/,
  );
  t.notMatch(data, /Final-Recipient: rfc822; jane@example\.org/, 'only the failed recipient is reported');
  t.match(data, /Content-Type: text\/rfc822-headers\r\n\r\nReceived: from client\.example\.com[\s\S]*Subject: half bounced/, 'the original headers are attached');
  t.match(f.mailLog(), new RegExp(`Bounced: DCID \\d+ MID ${mid} to RID 1 - 5\\.1\\.1`));
  t.match(f.mailLog(), new RegExp(`MID \\d+ was generated for bounce of MID ${mid}`));
});

t.test('a message that reaches the maximum time in the queue bounces', async (t) => {
  const { hop, senders, f, empty } = await setup(t, 1200);
  hop.rcpt = () => ({ code: 452, message: '4.2.2 mailbox full' });
  const mid = await f.accept({ rcptTo: ['jane@example.org'] }, message('too long'));
  const [dsn] = await senders.waitFor(1);
  await until('the queue is empty', empty);
  t.equal(hop.received.length, 0);
  t.match(dsn?.data, /Final-Recipient: rfc822; jane@example\.org\r\nAction: failed\r\nStatus: 4\.2\.2/);
  t.match(dsn?.data, /expired in the queue/);
  t.match(f.mailLog(), new RegExp(`MID ${mid} expired after`));
});

t.test('a bounce that cannot be delivered is dropped, not bounced again', async (t) => {
  const { senders, f, empty } = await setup(t);
  senders.rcpt = () => ({ code: 550, message: '5.1.1 gone' });
  const mid = await f.accept({ mailFrom: '', rcptTo: ['john.doe@example.com'] }, message('a bounce'));
  await until('the queue is empty', empty);
  t.match(f.mailLog(), new RegExp(`MID ${mid} no bounce sent: the message has a null sender`));
});
