// The protocol strictness decisions as tables, the way Postfix tests
// smtpd_check: each row an input an attacker (or an old client) sends and the
// verdict the gateway gives.
import t from 'tap';
import { authservIdOf, claimsAuthservId } from '../../src/mail/delivery/authserv-id.js';
import { asciiAddress, smtpUtf8Need } from '../../src/mail/delivery/smtputf8.js';
import { resolvePolicy } from '../../src/mail/mail-flow-policy.js';
import { checkMessageText, MAX_TEXT_LINE } from '../../src/mail/message-text-check.js';
import {
  commandLengthVerdict,
  commandLineLimit,
  commandNewlineVerdict,
  type OfferedExtensions,
  type ParameterValue,
  parameterVerdict,
  pipelinedDataVerdict,
  utf8AddressVerdict,
} from '../../src/mail/protocol-strictness.js';

const offered: OfferedExtensions = { size: true, eightBitMime: true, smtpUtf8: true, dsn: true, auth: true, requireTls: false };
const reply = (err: { responseCode: number; message: string } | undefined) => (err ? `${err.responseCode} ${err.message}` : 'ok');
const code = (err: { responseCode: number; message: string } | undefined) => (err ? `${err.responseCode} ${err.message.split(' ')[0]}` : 'ok');

t.test('MAIL and RCPT parameters: unknown 555 5.5.4, malformed known 501 5.5.4, the rest pass', async (t) => {
  const rows: [string, 'MAIL' | 'RCPT', Record<string, ParameterValue> | false, Partial<OfferedExtensions>, string][] = [
    ['no parameters', 'MAIL', false, {}, 'ok'],
    ['SIZE', 'MAIL', { SIZE: '12345' }, {}, 'ok'],
    ['SIZE=abc', 'MAIL', { SIZE: 'abc' }, {}, '501 5.5.4'],
    ['SIZE without a value', 'MAIL', { SIZE: true }, {}, '501 5.5.4'],
    ['SIZE of 21 digits', 'MAIL', { SIZE: '1'.repeat(21) }, {}, '501 5.5.4'],
    ['SIZE not offered', 'MAIL', { SIZE: '1' }, { size: false }, '555 5.5.4'],
    ['BODY=7BIT', 'MAIL', { BODY: '7BIT' }, {}, 'ok'],
    ['BODY=8bitmime (case)', 'MAIL', { BODY: '8bitmime' }, {}, 'ok'],
    ['BODY=BINARYMIME (needs BDAT, not offered)', 'MAIL', { BODY: 'BINARYMIME' }, {}, '501 5.5.4'],
    ['SMTPUTF8', 'MAIL', { SMTPUTF8: true }, {}, 'ok'],
    ['SMTPUTF8=yes', 'MAIL', { SMTPUTF8: 'yes' }, {}, '501 5.5.4'],
    ['AUTH=<>', 'MAIL', { AUTH: '<>' }, {}, 'ok'],
    ['AUTH=address', 'MAIL', { AUTH: 'john@example.com' }, {}, 'ok'],
    ['AUTH=garbage', 'MAIL', { AUTH: 'not an address' }, {}, '501 5.5.4'],
    ['AUTH= while AUTH is not offered (before STARTTLS)', 'MAIL', { AUTH: '<>' }, { auth: false }, '555 5.5.4'],
    ['RET=HDRS', 'MAIL', { RET: 'HDRS' }, {}, 'ok'],
    ['RET=ALL', 'MAIL', { RET: 'ALL' }, {}, '501 5.5.4'],
    ['ENVID', 'MAIL', { ENVID: 'QQ314159' }, {}, 'ok'],
    ['REQUIRETLS outside TLS', 'MAIL', { REQUIRETLS: true }, {}, '555 5.5.4'],
    ['REQUIRETLS inside TLS', 'MAIL', { REQUIRETLS: true }, { requireTls: true }, 'ok'],
    ['XFOO=1', 'MAIL', { XFOO: '1' }, {}, '555 5.5.4'],
    ['HOLDFOR (Sendmail, not ours)', 'MAIL', { HOLDFOR: '60' }, {}, '555 5.5.4'],
    ['a known one next to an unknown one', 'MAIL', { SIZE: '10', XYZZY: true }, {}, '555 5.5.4'],
    ['NOTIFY on MAIL (belongs to RCPT)', 'MAIL', { NOTIFY: 'NEVER' }, {}, '555 5.5.4'],
    ['NOTIFY=SUCCESS,FAILURE', 'RCPT', { NOTIFY: 'SUCCESS,FAILURE' }, {}, 'ok'],
    ['NOTIFY=NEVER,SUCCESS', 'RCPT', { NOTIFY: 'NEVER,SUCCESS' }, {}, '501 5.5.4'],
    ['ORCPT', 'RCPT', { ORCPT: 'rfc822;jane@example.com' }, {}, 'ok'],
    ['ORCPT without type', 'RCPT', { ORCPT: 'jane@example.com' }, {}, '501 5.5.4'],
    ['SIZE on RCPT', 'RCPT', { SIZE: '10' }, {}, '555 5.5.4'],
    ['DSN not offered', 'RCPT', { NOTIFY: 'NEVER' }, { dsn: false }, '555 5.5.4'],
  ];
  for (const [name, verb, args, offer, expected] of rows) t.equal(code(parameterVerdict(verb, args, { ...offered, ...offer })), expected, name);
  t.match(reply(parameterVerdict('MAIL', { XFOO: '1' }, offered)), /^555 5\.5\.4 Unsupported MAIL FROM parameter XFOO$/);
});

t.test('a UTF-8 address needs SMTPUTF8 declared on MAIL FROM (553 5.6.7)', async (t) => {
  const line = (text: string) => Buffer.from(text, 'utf8');
  t.equal(code(utf8AddressVerdict(line('MAIL FROM:<john@example.com>'), false)), 'ok');
  t.equal(code(utf8AddressVerdict(line('MAIL FROM:<jürgen@example.com>'), false)), '553 5.6.7');
  t.equal(code(utf8AddressVerdict(line('MAIL FROM:<jürgen@example.com> SMTPUTF8'), true)), 'ok');
  t.equal(code(utf8AddressVerdict(line('RCPT TO:<jane@bücher.example>'), false)), '553 5.6.7', 'an IDN in U-labels too: A-labels need no SMTPUTF8');
});

t.test('command line length: 512 with CRLF, plus what offered extensions add, 12288 for AUTH', async (t) => {
  const rows: [string, string, number, boolean, string][] = [
    ['NOOP of 510 octets (512 with CRLF)', 'NOOP', 510, false, 'ok'],
    ['NOOP of 511 octets', 'NOOP', 511, false, '500 5.5.2'],
    ['an unknown verb of 600 octets', 'XYZZY', 600, false, '500 5.5.2'],
    ['EHLO of 600 octets', 'EHLO', 600, false, '500 5.5.2'],
    ['MAIL of 1000 octets (SIZE, AUTH=, DSN, SMTPUTF8 allowances)', 'MAIL', 1000, false, 'ok'],
    ['MAIL of 1200 octets', 'MAIL', 1200, false, '500 5.5.2'],
    ['RCPT of 1000 octets (DSN allowance)', 'RCPT', 1000, false, 'ok'],
    ['RCPT of 1100 octets', 'RCPT', 1100, false, '500 5.5.2'],
    ['AUTH of 12000 octets', 'AUTH', 12_000, false, 'ok'],
    ['AUTH of 12287 octets', 'AUTH', 12_287, false, '500 5.5.2'],
    ['an AUTH continuation line of 8000 octets', '', 8000, true, 'ok'],
  ];
  for (const [name, verb, octets, inAuth, expected] of rows) t.equal(code(commandLengthVerdict(verb, octets, offered, inAuth)), expected, name);
  t.ok(commandLineLimit('RCPT', { ...offered, dsn: false }) === 512, 'without DSN, RCPT has no allowance');
});

t.test('bare LF and bare CR in command lines follow the policy', async (t) => {
  const rows: [string, 'crlf' | 'bare-lf', string, 'reject' | 'normalize', string][] = [
    ['CRLF', 'crlf', 'NOOP', 'reject', 'ok'],
    ['bare LF, reject', 'bare-lf', 'NOOP', 'reject', '550 5.5.2'],
    ['bare LF, normalize', 'bare-lf', 'NOOP', 'normalize', 'ok'],
    ['bare CR inside the line, reject', 'crlf', 'MAIL FROM:<a@example.com>\rRCPT TO:<b@example.com>', 'reject', '550 5.5.2'],
  ];
  for (const [name, ending, line, policy, expected] of rows) t.equal(code(commandNewlineVerdict(ending, Buffer.from(line, 'latin1'), policy)), expected, name);
  t.equal(code(pipelinedDataVerdict(0)), 'ok');
  t.equal(code(pipelinedDataVerdict(1)), '554 5.5.0', 'message text before 354: Postfix\'s "SMTP protocol synchronization"');
});

t.test('message text: bare LF, bare CR, long lines and NUL', async (t) => {
  const long = (n: number) => `${'x'.repeat(n)}\r\n`;
  const rows: [string, string[], 'reject' | 'normalize', string, string?][] = [
    ['plain CRLF text', ['Subject: a\r\n\r\nbody\r\n'], 'reject', 'ok', 'Subject: a\r\n\r\nbody\r\n'],
    ['bare LF, reject', ['Subject: a\n\nbody\r\n'], 'reject', '550 5.5.2'],
    ['bare LF, normalize: stored as CRLF', ['Subject: a\n\nbody\n'], 'normalize', 'ok', 'Subject: a\r\n\r\nbody\r\n'],
    ['smuggling "\\n.\\r\\n", reject', ['a\r\n\n.\r\nMAIL FROM:<x@evil>\r\n'], 'reject', '550 5.5.2'],
    ['smuggling "\\n.\\r\\n", normalize: a plain "." line, dot-stuffed when relayed', ['a\r\n\n.\r\nb\r\n'], 'normalize', 'ok', 'a\r\n\r\n.\r\nb\r\n'],
    ['bare CR, reject', ['a\r.\rb\r\n'], 'reject', '550 5.5.2'],
    ['bare CR, normalize', ['a\rb\r\n'], 'normalize', 'ok', 'a\r\nb\r\n'],
    ['CRLF split over two chunks', ['a\r', '\nb\r\n'], 'reject', 'ok', 'a\r\nb\r\n'],
    ['bare CR at a chunk end', ['a\r', 'b\r\n'], 'reject', '550 5.5.2'],
    ['bare CR at a chunk end, normalize', ['a\r', 'b\r\n'], 'normalize', 'ok', 'a\r\nb\r\n'],
    [`a line of ${MAX_TEXT_LINE} octets`, [long(MAX_TEXT_LINE)], 'reject', 'ok'],
    [`a line of ${MAX_TEXT_LINE + 1} octets`, [long(MAX_TEXT_LINE + 1)], 'reject', '550 5.6.0'],
    ['a long line split over chunks', ['x'.repeat(600), 'x'.repeat(600), '\r\n'], 'normalize', '550 5.6.0'],
    ['a long last line without its CRLF', ['x'.repeat(1200)], 'reject', '550 5.6.0'],
    ['998 + 998 in two lines over chunks', ['x'.repeat(998), '\r\n', 'y'.repeat(998), '\r\n'], 'reject', 'ok'],
    ['NUL', ['a\u0000b\r\n'], 'reject', '550 5.6.0'],
    ['NUL, normalize too', ['a\u0000b\r\n'], 'normalize', '550 5.6.0'],
  ];
  for (const [name, chunks, policy, expected, stored] of rows) {
    const result = checkMessageText(
      chunks.map((c) => Buffer.from(c, 'latin1')),
      policy,
    );
    t.equal(code(result.violation), expected, name);
    if (stored !== undefined) t.equal(result.stored.toString('latin1'), stored, `${name}: what is stored`);
    if (result.violation) t.equal(result.stored.length, 0, `${name}: nothing to store`);
  }
});

t.test('bareNewline defaults: reject on public listeners, normalize on private ones, a policy may say otherwise', async (t) => {
  const policies = [
    {
      name: 'DEFAULT',
      connection: 'accept' as const,
      maxMessageBytes: 1024,
      maxRecipientsPerMessage: 1,
      maxMessagesPerConnection: 1,
      tls: 'off' as const,
      smtpAuth: 'off' as const,
    },
  ];
  t.equal(resolvePolicy({ type: 'public', policies, defaultPolicy: 'DEFAULT' }, 'DEFAULT').bareNewline, 'reject');
  t.equal(resolvePolicy({ type: 'private', policies, defaultPolicy: 'DEFAULT' }, 'DEFAULT').bareNewline, 'normalize');
  const withOld = [...policies, { name: 'OLDPRINTERS', bareNewline: 'normalize' as const }];
  t.equal(resolvePolicy({ type: 'public', policies: withOld, defaultPolicy: 'DEFAULT' }, 'OLDPRINTERS').bareNewline, 'normalize');
});

t.test('Authentication-Results: the authserv-id by the RFC 8601 grammar', async (t) => {
  const ours = 'mail.example.com';
  const rows: [string, string, string | undefined, boolean][] = [
    ['plain', ' mail.example.com; auth=pass', 'mail.example.com', true],
    ['case', ' MAIL.Example.COM; none', 'mail.example.com', true],
    ['a comment before', ' (forged by us) mail.example.com; spf=pass', 'mail.example.com', true],
    ['nested comments', ' (a (b) c) mail.example.com; none', 'mail.example.com', true],
    ['a comment right after', ' mail.example.com(x); none', 'mail.example.com', true],
    ['folding (unfolded: tab kept)', ' mail.example.com\t; spf=pass', 'mail.example.com', true],
    ['version', ' mail.example.com 1; none', 'mail.example.com', true],
    ['version after a comment', ' mail.example.com (v) 1 ; none', 'mail.example.com', true],
    ['quoted', ' "mail.example.com"; none', 'mail.example.com', true],
    ['quoted with a quoted-pair', ' "mail.example\\.com" 1; none', 'mail.example.com', true],
    ['trailing dot', ' mail.example.com.; none', 'mail.example.com', true],
    ['a bare id', ' mail.example.com', 'mail.example.com', true],
    ['look-alike: ours as a prefix', ' mail.example.com.evil; none', 'mail.example.com.evil', false],
    ['look-alike: ours as a suffix', ' evil-mail.example.com; none', 'evil-mail.example.com', false],
    ['another id naming ours in a comment', ' mx.other.example (mail.example.com); auth=pass', 'mx.other.example', false],
    ['ours inside a result', ' mx.other.example; auth=pass smtp.auth=mail.example.com', 'mx.other.example', false],
    ['an unterminated comment', ' (mail.example.com; none', undefined, true],
    ['an unterminated quoted string', ' "mail.example.com; none', undefined, true],
    ['a tspecial inside the id', ' mail.example.com/evil; none', undefined, true],
    ['empty', '   ', undefined, true],
  ];
  for (const [name, value, id, removed] of rows) {
    t.equal(authservIdOf(value), id, `${name}: authserv-id`);
    t.equal(claimsAuthservId(value, ours), removed, `${name}: ${removed ? 'removed' : 'kept'}`);
  }
});

t.test('SMTPUTF8: what a next hop without it cannot take', async (t) => {
  t.equal(asciiAddress('jane@bücher.example'), 'jane@xn--bcher-kva.example', 'a domain goes out as an A-label');
  t.equal(asciiAddress('jürgen@example.com'), undefined, 'a local part cannot be downgraded');
  const base = { requested: false, mailFrom: 'john@example.com', rcptTo: ['jane@example.org'], headerBlock: 'Subject: hi\r\n' };
  const rows: [string, Partial<typeof base>, boolean][] = [
    ['all ASCII', {}, false],
    ['an IDN recipient domain', { rcptTo: ['jane@bücher.example'] }, false],
    ['a UTF-8 recipient local part', { rcptTo: ['jürgen@example.org'] }, true],
    ['a UTF-8 sender local part', { mailFrom: 'jürgen@example.com' }, true],
    ['SMTPUTF8 asked, UTF-8 in the header', { requested: true, headerBlock: 'Subject: Gr\xc3\xbc\xc3\x9fe\r\n' }, true],
    ['SMTPUTF8 asked, all ASCII: the flag is moot', { requested: true }, false],
  ];
  for (const [name, facts, needs] of rows) t.equal(smtpUtf8Need({ ...base, ...facts }) !== undefined, needs, name);
});
