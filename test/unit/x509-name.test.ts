// One way to write a certificate's subject and issuer (RFC 4514), table-tested on
// Names built byte by byte, and the same rendering from every reader: the client
// certificate fields, the HSM certificate listing, the CRL issuer.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { certificateNameDers, escapeDnValue, formatName, issuerName, subjectName } from '../../src/hsm/x509-name.js';
import { parseCertificate } from '../../src/mail/certificate-fields.js';
import { describeName } from '../../src/mail/crl/names.js';
import { tempState } from '../helpers/state.js';

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
const oids: Record<string, string> = { CN: '550403', C: '550406', O: '55040a', OU: '55040b', DC: '0992268993f22c640119', UID: '0992268993f22c640101', x: '2a0304' };
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
const printable = (s: string) => der(0x13, Buffer.from(s, 'latin1'));
const bmp = (s: string) => der(0x1e, Buffer.from(s, 'utf16le').swap16());
const universal = (s: string) =>
  der(
    0x1c,
    Buffer.concat(
      [...s].map((c) => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(c.codePointAt(0)!);
        return b;
      }),
    ),
  );
const atv = (type: string, value: Buffer) => der(0x30, der(0x06, Buffer.from(oids[type]!, 'hex')), value);
const rdn = (...attributes: Buffer[]) => der(0x31, ...attributes);
const name = (...rdns: Buffer[]) => der(0x30, ...rdns);

t.test('RFC 4514: most significant RDN last, multi-valued RDNs with +, escaping', async (t) => {
  const table: [string, Buffer, string][] = [
    ['the usual order', name(rdn(atv('C', printable('US'))), rdn(atv('O', utf8('Example'))), rdn(atv('CN', utf8('alice')))), 'CN=alice,O=Example,C=US'],
    ['a multi-valued RDN', name(rdn(atv('O', utf8('Example'))), rdn(atv('OU', utf8('Sales')), atv('CN', utf8('bob')))), 'OU=Sales+CN=bob,O=Example'],
    ['each special character', name(rdn(atv('CN', utf8('a,b+c"d\\e<f>g;h')))), 'CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h'],
    ['a leading #', name(rdn(atv('CN', utf8('#1')))), 'CN=\\#1'],
    ['a # elsewhere', name(rdn(atv('CN', utf8('no#1')))), 'CN=no#1'],
    ['leading and trailing spaces', name(rdn(atv('CN', utf8('  two  ')))), 'CN=\\  two \\ '],
    ['a single space', name(rdn(atv('CN', utf8(' ')))), 'CN=\\ '],
    ['= needs no escape', name(rdn(atv('CN', utf8('a=b')))), 'CN=a=b'],
    ['NUL and line breaks as \\HH: a log line cannot be split', name(rdn(atv('CN', utf8('eve\0\r\nCN=admin')))), 'CN=eve\\00\\0d\\0aCN=admin'],
    ['UTF-8 kept as is', name(rdn(atv('CN', utf8('Zoë Ångström')))), 'CN=Zoë Ångström'],
    ['BMPString is UTF-16 big-endian', name(rdn(atv('CN', bmp('Zoë')))), 'CN=Zoë'],
    ['UniversalString is UTF-32 big-endian', name(rdn(atv('CN', universal('Ω1')))), 'CN=Ω1'],
    [
      'DC and UID',
      name(rdn(atv('DC', der(0x16, Buffer.from('com')))), rdn(atv('DC', der(0x16, Buffer.from('example')))), rdn(atv('UID', utf8('jdoe')))),
      'UID=jdoe,DC=example,DC=com',
    ],
    ['an unknown type: dotted OID and #hex of the BER value', name(rdn(atv('x', utf8('hi')))), '1.2.3.4=#0c026869'],
    ['a known type whose value is not a string: #hex', name(rdn(atv('CN', der(0x02, Buffer.from([5]))))), 'CN=#020105'],
    ['the empty name', name(), ''],
  ];
  for (const [what, input, expected] of table) t.equal(formatName(input), expected, what);
});

t.test('a damaged name is described, never thrown', async (t) => {
  for (const bad of [Buffer.from([0x30, 0x05, 0x31]), Buffer.from([0x31, 0x00]), name(der(0x30)), Buffer.alloc(0), name(rdn())]) {
    t.match(formatName(bad), /^\(unreadable name [0-9a-f]*…?\)$/, bad.toString('hex'));
  }
});

t.test('escapeDnValue alone', async (t) => {
  t.equal(escapeDnValue(''), '');
  t.equal(escapeDnValue('plain'), 'plain');
  t.equal(escapeDnValue('#'), '\\#');
  t.equal(escapeDnValue('a\u0085b'), 'a\\c2\\85b', 'C1 controls too');
});

t.test('every reader writes a certificate the same way', async (t) => {
  const dir = tempState(t);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'k.pem'),
      '-out',
      join(dir, 'c.pem'),
      '-days',
      '2',
      '-multivalue-rdn',
      '-subj',
      '/C=US/O=Smith\\, Jones/OU=DoD+CN=DOE.JOHN.1234567890',
    ],
    { stdio: 'ignore' },
  );
  const certificate = new X509Certificate(readFileSync(join(dir, 'c.pem')));
  const expected = 'OU=DoD+CN=DOE.JOHN.1234567890,O=Smith\\, Jones,C=US';
  t.equal(subjectName(certificate), expected);
  t.equal(issuerName(certificate), expected, 'self-signed: the same issuer');
  const { fields } = parseCertificate(certificate);
  t.equal(fields.subject, expected, 'the fields LDAP certificate queries and log lines use');
  t.equal(fields.cn, 'DOE.JOHN.1234567890');
  const names = certificateNameDers(certificate.raw);
  t.equal(describeName(Buffer.from(names.issuer)), expected, 'the CRL issuer in CRL log lines');
  t.not(certificate.subject.replace(/\n/g, ','), expected, 'Node’s own rendering is the other order: not used');
});
