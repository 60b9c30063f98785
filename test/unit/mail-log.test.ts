// The mail log's one grammar: every event is written as its line and parsed back to
// the same event, the lines people and the seed know keep their form, and a line of
// no known kind parses to nothing.
import t from 'tap';
import { formatMailEvent, idsIn, type MailEventFields, type MailEventName, parseMailEvent, textOfLogLine } from '../../src/mail/mail-log.js';
import { formatLogLine } from '../../src/os/logging/subscriptions.js';

const samples: { [N in MailEventName]: [MailEventFields<N>, string] } = {
  'connection.new': [
    { icid: 7, listener: 'Inbound', address: '0.0.0.0', port: 25, ip: '192.0.2.9', reverse: 'unknown', verified: 'no' },
    'New SMTP ICID 7 interface Inbound (0.0.0.0:25) address 192.0.2.9 reverse dns host unknown verified no',
  ],
  'connection.rejected': [{ icid: 7, reply: '554 access denied' }, 'ICID 7 REJECT: 554 access denied'],
  'connection.policy': [{ icid: 7, action: 'ACCEPT', senderGroup: 'none', policy: 'DEFAULT' }, 'ICID 7 ACCEPT SG none policy DEFAULT'],
  'connection.close': [{ icid: 7 }, 'ICID 7 close'],
  'connection.refused': [
    { icid: 7, ip: '127.0.0.30', what: '3 open connections (limit 3)', reply: '421 4.7.0 Too many connections' },
    'ICID 7 address 127.0.0.30 REFUSED: 3 open connections (limit 3): 421 4.7.0 Too many connections',
  ],
  'connection.error-limit': [{ icid: 7, ip: '127.0.0.60', errors: 6, limit: 6 }, 'ICID 7 address 127.0.0.60 disconnected: 6 errors (hard limit 6): 421 4.7.0'],
  'auth.blocked': [{ icid: 7, ip: '127.0.0.2', seconds: 3, why: '4 failed AUTH attempts' }, 'ICID 7 address 127.0.0.2 AUTH blocked for 3 s: 4 failed AUTH attempts'],
  'connection.tls': [{ icid: 7, protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' }, 'ICID 7 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384'],
  'certificate.none': [{ icid: 7 }, 'ICID 7 client certificate none'],
  'certificate.rejected': [
    { icid: 7, subject: 'CN=EVE "x",O=Bad', reason: 'the certificate is revoked' },
    'ICID 7 client certificate subject "CN=EVE \\"x\\",O=Bad" verdict rejected: the certificate is revoked',
  ],
  'certificate.valid': [
    { icid: 7, subject: 'CN=DOE.JOHN', issuer: 'CN=Client Root CA', serial: '0A1B', notes: ' (no CRL: allowed)' },
    'ICID 7 client certificate subject "CN=DOE.JOHN" issuer "CN=Client Root CA" serial 0A1B verdict valid (no CRL: allowed)',
  ],
  'certificate.login': [{ icid: 7, user: 'jdoe' }, 'ICID 7 certificate login user jdoe'],
  'certificate.unavailable': [{ icid: 7, reason: 'LDAP unavailable' }, 'ICID 7 certificate login unavailable: LDAP unavailable'],
  'certificate.failed': [{ icid: 7, reason: 'no user' }, 'ICID 7 certificate login failed: no user'],
  'sender.size-refused': [{ icid: 7, address: 'a@b.example', declared: 900, limit: 100 }, 'ICID 7 MAIL FROM <a@b.example> refused: declared SIZE 900 exceeds 100'],
  'message.start': [{ mid: 12, icid: 7 }, 'Start MID 12 ICID 7'],
  'message.from': [{ mid: 12, icid: 7, address: 'a@b.example' }, 'MID 12 ICID 7 From: <a@b.example>'],
  'message.to-rejected': [
    { mid: 12, icid: 7, rid: 0, address: 'x@y.example', policy: 'DEFAULT' },
    'MID 12 ICID 7 RID 0 To: <x@y.example> Rejected by policy DEFAULT: relaying denied',
  ],
  'message.to': [{ mid: 12, icid: 7, rid: 1, address: 'x@y.example' }, 'MID 12 ICID 7 RID 1 To: <x@y.example>'],
  'message.spool-failed': [{ mid: 12, icid: 7, reason: 'ENOSPC' }, 'MID 12 ICID 7 not accepted: spool write failed (ENOSPC)'],
  'message.too-large': [{ mid: 12, icid: 7, bytes: 900, limit: 100 }, 'MID 12 ICID 7 rejected: message size 900 bytes exceeds the limit of 100'],
  'message.refused': [{ mid: 12, icid: 7, reason: '550 5.6.0 a line over 998 octets' }, 'MID 12 ICID 7 rejected: 550 5.6.0 a line over 998 octets'],
  'connection.protocol-violation': [{ icid: 7, what: 'bare LF in a command' }, 'ICID 7 protocol violation: bare LF in a command'],
  'message.data-cut': [{ mid: 12, icid: 7, ip: '127.0.0.50', reply: '421 4.4.2 DATA arrives slower' }, 'MID 12 ICID 7 address 127.0.0.50 DATA cut: 421 4.4.2 DATA arrives slower'],
  'message.ready': [{ mid: 12, icid: 7, bytes: 900, from: 'a@b.example' }, 'MID 12 ICID 7 ready 900 bytes from <a@b.example>'],
  'delivery.connection': [{ dcid: 3, host: 'mx.example.net', port: 25 }, 'New SMTP DCID 3 address mx.example.net port 25'],
  'delivery.connection-failed': [{ dcid: 3, host: 'mx.example.net', port: 25, reply: 'ECONNREFUSED' }, 'DCID 3 connection to mx.example.net port 25 failed: ECONNREFUSED'],
  'delivery.no-smtputf8': [{ dcid: 3, host: 'mx.example.net', why: 'a UTF-8 address' }, 'DCID 3 mx.example.net does not offer SMTPUTF8, which the message needs: a UTF-8 address'],
  'delivery.tls': [{ dcid: 3, protocol: 'TLSv1.3' }, 'DCID 3 TLS success protocol TLSv1.3'],
  'delivery.close': [{ dcid: 3 }, 'DCID 3 close'],
  'delivery.start': [{ dcid: 3, mid: 12, rids: '0, 1', host: 'mx.example.net', port: 25 }, 'Delivery start DCID 3 MID 12 to RID [0, 1] via mx.example.net:25'],
  'delivery.done': [{ dcid: 3, mid: 12, rids: '0', reply: '250 ok' }, 'Message done DCID 3 MID 12 to RID [0] ("250 ok")'],
  'delivery.bounced': [{ dcid: 3, mid: 12, rid: 0, status: '5.1.1', reply: '550 5.1.1 no such user' }, 'Bounced: DCID 3 MID 12 to RID 0 - 5.1.1 ("550 5.1.1 no such user")'],
  'delivery.delayed': [{ dcid: 3, mid: 12, rid: 0, status: '4.4.1', reply: 'timeout' }, 'Delayed: DCID 3 MID 12 to RID 0 - 4.4.1 ("timeout")'],
  'message.subject': [{ mid: 12, subject: 'Hello "world" \\ ü' }, 'MID 12 Subject "Hello \\"world\\" \\\\ ü"'],
  'message.message-id': [{ mid: 12, messageId: '<a@b>' }, 'MID 12 Message-ID "<a@b>"'],
  'message.dkim': [{ mid: 12, profile: 'example' }, 'MID 12 DKIM: signed with profile example'],
  'message.deferred': [{ mid: 12, at: '2026-12-04T05:00:00.000Z' }, 'MID 12 deferred: next attempt at 2026-12-04T05:00:00.000Z'],
  'message.expired': [{ mid: 12, ageSeconds: 90, maxSeconds: 60 }, 'MID 12 expired after 90 s in the queue (maximum 60 s)'],
  'message.bounced': [{ mid: 12, rid: 0, status: '4.4.7', why: 'delivery time expired' }, 'Bounced: MID 12 to RID 0 - 4.4.7 ("delivery time expired")'],
  'message.deleted': [{ mid: 12, rid: 0 }, 'MID 12 RID 0 deleted by the administrator'],
  'message.no-bounce': [{ mid: 12 }, 'MID 12 no bounce sent: the message has a null sender'],
  'message.bounce-generated': [{ dsnMid: 13, mid: 12, to: 'a@b.example' }, 'MID 13 was generated for bounce of MID 12 to <a@b.example>'],
  'message.unprepared': [{ mid: 12, reason: 'no route' }, 'MID 12 could not be prepared for delivery: no route'],
  'message.corrupt': [{ mid: 12, reason: 'bad JSON' }, 'MID 12 moved to the corrupt queue: bad JSON'],
  'message.internal-error': [{ mid: 12, reason: 'oops' }, 'MID 12 delivery failed with an internal error: oops'],
  'message.finished': [{ mid: 12 }, 'Message finished MID 12 done'],
  'alert.queued': [{ mid: 14, subject: 'HSM failed', recipients: '<fips@example.com>' }, 'MID 14 alert "HSM failed" queued for <fips@example.com>'],
};

t.test('every event is written as its line and parsed back to itself', async (t) => {
  for (const [name, [fields, line]] of Object.entries(samples) as [MailEventName, [MailEventFields<MailEventName>, string]][]) {
    t.equal(formatMailEvent(name, fields), line, `${name} is written as people read it`);
    t.same(parseMailEvent(line), { name, fields }, `${name} parses back to the same event`);
    t.same(parseMailEvent(textOfLogLine(formatLogLine('info', line))), { name, fields }, `${name} parses back from a whole log line`);
  }
});

t.test('a line of no known kind, or a look-alike, parses to nothing', async (t) => {
  t.equal(parseMailEvent('HSM token unavailable: STARTTLS is answered with 454 4.7.0 until it returns'), undefined);
  t.equal(parseMailEvent('MID x ICID 7 From: <a@b>'), undefined, 'an id must be a number');
  t.equal(parseMailEvent('MID 12 ICID 7 From: <a@b> and more'), undefined, 'nothing may trail an event');
});

t.test('ids: "KEY n" standing alone, in the seed\'s "MID n:" form too (76277)', async (t) => {
  t.same([...idsIn(['MID 12: queued', 'Start MID 13 ICID 7', 'XMID 14', 'MID 15x'], 'MID')], [12, 13, 15]);
  t.same([...idsIn(['Delivery start DCID 3 MID 12 to RID [0]'], 'DCID')], [3]);
});
