// Header reading as messages really arrive: folded fields (seed 72656), RFC 2047
// encoded words, and encoded words that break the rules (seed 51946).
import t from 'tap';
import { addressesIn, decodeEncodedWords, headerValue, parseHeaderBlock } from '../../src/mail/delivery/headers.js';

t.test('a From header folded over two lines is one field with its address', async (t) => {
  const fields = parseHeaderBlock('Received: from a\r\n\tby b; Sun, 29 Nov 2026\r\nFrom: "Doe, John"\r\n <john.doe@example.com>\r\nSubject: hi\r\n\r\n');
  t.same(
    fields.map((f) => f.name),
    ['Received', 'From', 'Subject'],
  );
  t.equal(fields[1]?.raw, 'From: "Doe, John"\r\n <john.doe@example.com>', 'the raw field keeps its folding (for DKIM simple)');
  t.same(addressesIn(fields[1]?.value ?? ''), ['john.doe@example.com']);
  t.equal(headerValue(fields, 'from'), '"Doe, John" <john.doe@example.com>', 'unfolded value');
});

t.test('encoded words: B and Q, adjacent words joined, charsets other than UTF-8', async (t) => {
  t.equal(decodeEncodedWords('=?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?='), 'Grüße aus Köln');
  t.equal(decodeEncodedWords('=?ISO-8859-1?Q?Andr=E9?= Pirard'), 'André Pirard');
  t.equal(decodeEncodedWords('=?iso-2022-jp?B?GyRCRnxLXDhsGyhC?='), '日本語');
  t.equal(decodeEncodedWords('plain text'), 'plain text');
});

t.test('non-conforming headers are read rather than refused (seed 51946)', async (t) => {
  // The whole address inside an encoded word, which RFC 2047 forbids.
  t.same(addressesIn(' =?UTF-8?B?w5hyc3RlZCA8b2VyQGV4YW1wbGUuZGs+?='), ['oer@example.dk']);
  t.equal(decodeEncodedWords('=?x-unknown?Q?caf=E9?='), 'café', 'an unknown charset falls back to latin1');
  t.equal(decodeEncodedWords('=?UTF-8?B?###?='), '', 'broken base64 decodes to what it can, without throwing');
  t.same(addressesIn(Buffer.from(' Jörg <jörg@exämple.de>').toString('latin1')), ['jörg@exämple.de'], 'raw UTF-8 (RFC 6532)');
  t.same(
    parseHeaderBlock('no colon here\r\n continuation of nothing\r\nTo: a@b.c\r\n').map((f) => f.name),
    ['To'],
    'garbage lines are skipped',
  );
  t.same(parseHeaderBlock('From: x@y.z\nTo: a@b.c\n\n').length, 2, 'bare LF line ends');
});
