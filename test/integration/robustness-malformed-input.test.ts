// Malformed input through the real paths. Client certificates with hostile
// names (LDAP metacharacters and NUL in CN and SAN, BMPString, control
// characters, a huge subject, undecodable SAN and strings) are signed by the
// trusted client CA and presented over real TLS to a gateway whose certificate
// profiles look users up in a real slapd; seeded corruptions of a certificate's
// DER go through the parsers the gateway uses; and CRLs that are signed by the
// trusted CA but malformed inside (bad lengths, wrong tags, huge counts) come
// through the CRL service's download path. Every case gets a clear answer, no
// one is let in, nothing crashes, and the gateway still serves afterwards.
// FUZZ_SEED=… replays where and how the DER is corrupted (the certificate's key and
// signature are new each run), FUZZ_SEED=random explores.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LdapSmtpAuthenticator } from '../../src/mail/auth/authenticator.js';
import { testQuery } from '../../src/mail/auth/test-query.js';
import { parseCertificate } from '../../src/mail/certificate-fields.js';
import { certificateFields } from '../../src/mail/crl/certificate.js';
import { CrlService } from '../../src/mail/crl/crl-service.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { fileServer } from '../helpers/file-server.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway, swaks } from '../helpers/gateway.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { ldapServerProfile, Slapd } from '../helpers/slapd.js';
import { type TestCa, TestCa as TestCaClass } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';
const seed = process.env.FUZZ_SEED === 'random' ? Date.now() % 1_000_000 : Number(process.env.FUZZ_SEED ?? 20261129);
t.comment(`FUZZ_SEED=${seed}`);
const { random } = seededRandom(seed);

// DER, byte for byte: what openssl will not write (NUL in a CN, a BMPString, an undecodable SAN).
function der(tag: number, ...content: Buffer[]): Buffer {
  const length = content.reduce((sum, c) => sum + c.length, 0);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  const header = length < 0x80 ? Buffer.from([tag, length]) : Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  return Buffer.concat([header, ...content]);
}
const oid = (hex: string) => der(0x06, Buffer.from(hex, 'hex'));
const utcTime = (date: Date) => der(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`, 'latin1'));
const ecdsaWithSha256 = der(0x30, oid('2a8648ce3d040302'));
const attribute = { cn: '550403', ou: '55040b', o: '55040a' } as const;
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const bmp = (text: string) => der(0x1e, Buffer.from(text, 'utf16le').swap16());
function name(...rdns: [keyof typeof attribute, Buffer][]): Buffer {
  return der(0x30, ...rdns.map(([type, value]) => der(0x31, der(0x30, oid(attribute[type]), value))));
}
const extension = (oidHex: string, value: Buffer, critical = false) => der(0x30, oid(oidHex), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), der(0x04, value));
const upnOid = '2b0601040182371402 03'.replace(' ', '');

interface Hostile {
  subject: Buffer;
  /** subjectAltName's GeneralNames content, or raw bytes for an undecodable one. */
  san?: Buffer;
}

/** A client certificate signed by `ca` (EC P-256) with the given subject and SAN, and its key. */
function hostileCertificate(ca: TestCa, spec: Hostile) {
  const caCert = certificateFields(new X509Certificate(ca.pem).raw);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serial = Buffer.concat([Buffer.from([0x41]), randomBytes(9)]);
  const now = Date.now();
  const extensions = [
    extension('551d13', der(0x30)),
    extension('551d0f', der(0x03, Buffer.from([0x07, 0x80])), true),
    extension('551d25', der(0x30, oid('2b06010505070302'))),
    extension('551d23', der(0x30, der(0x80, caCert.subjectKeyId!))),
    ...(spec.san ? [extension('551d11', spec.san)] : []),
  ];
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    ecdsaWithSha256,
    caCert.subject,
    der(0x30, utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86400_000))),
    spec.subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, der(0x30, ...extensions)),
  );
  const signature = sign('sha256', tbs, createPrivateKey(readFileSync(ca.keyPath)));
  const certDer = der(0x30, tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), signature));
  return {
    der: certDer,
    serial: serial.toString('hex').toUpperCase(),
    cert: `-----BEGIN CERTIFICATE-----\n${certDer
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n')}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const fixture = await gatewayFixture(t);
const files = await fileServer(t);
const { token, clientCa } = fixture;
const ldapCa = new TestCaClass({ dir: join(token.root, 'pki', 'ldap-ca'), commonName: 'Directory CA' });
const john = clientCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const revoked = clientCa.issue({ commonName: 'ROE.JANE.2222222222' });
clientCa.revoke(revoked, 'keyCompromise');

// A NUL in the CN: if anything cut the value there, "ALICE" with this serial would log in as alice.
const nulCn = hostileCertificate(clientCa, { subject: name(['cn', utf8('ALICE\u0000*)(uid=*')]) });
const bmpCn = hostileCertificate(clientCa, { subject: name(['o', bmp('Ünïcode Org')], ['cn', bmp('BMP.USER.4444444444')]) });
const forgedLog = hostileCertificate(clientCa, { subject: name(['cn', utf8('MALLORY\r\nInfo: MID 999 ICID 999 From: <forged@example.com>\u001b[2J')]) });
const huge = hostileCertificate(clientCa, {
  subject: name(...Array.from({ length: 120 }, (_, i) => ['ou', utf8(`Unit ${i} ${'x'.repeat(40)}`)] as [keyof typeof attribute, Buffer]), [
    'cn',
    utf8(`HUGE.${'H'.repeat(4000)}`),
  ]),
});
const metaEmail = hostileCertificate(clientCa, {
  subject: name(['cn', utf8('META.EMAIL.1')]),
  san: der(0x30, der(0x81, Buffer.from('*)(uid=*))(|(mail=*', 'latin1')), der(0xa0, der(0x06, Buffer.from(upnOid, 'hex')), der(0xa0, utf8('*)(|(uid=*')))),
});
// bob's mail is bob@example.com: a SAN cut at its NUL would find him.
const nulEmail = hostileCertificate(clientCa, {
  subject: name(['cn', utf8('NUL.EMAIL.2')]),
  san: der(0x30, der(0x81, Buffer.from('bob@example.com\u0000.evil.example', 'latin1'))),
});
const badSan = hostileCertificate(clientCa, { subject: name(['cn', utf8('BAD.SAN.3')]), san: Buffer.from([0x30, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81]) });
// OpenSSL will not even load these to send them: they go to the parsers directly.
const badUtf8 = hostileCertificate(clientCa, { subject: name(['cn', Buffer.from([0x0c, 0x04, 0xff, 0xfe, 0xc0, 0x80])]) });
const oddBmp = hostileCertificate(clientCa, { subject: name(['cn', Buffer.from([0x1e, 0x03, 0x00, 0x41, 0x00])]) });

const slapd = await Slapd.start(t, {
  ca: ldapCa,
  users: [
    { uid: 'jdoe', password: 'John-Pass-1', caccn: 'DOE.JOHN.1234567890', cacserial: john.serial },
    { uid: 'alice', password: 'Alice-Pass-1', caccn: 'ALICE', cacserial: nulCn.serial },
    { uid: 'bmpuser', password: 'Bmp-Pass-1', caccn: 'BMP.USER.4444444444', cacserial: bmpCn.serial },
    { uid: 'mallory', password: 'Mallory-Pass-1', caccn: 'MALLORY', cacserial: forgedLog.serial },
    { uid: 'bob', password: 'Bob-Pass-1', mail: 'bob@example.com' },
  ],
});

// The CRL service the gateway checks revocation with; its source is a file the tests replace.
const served = join(token.root, 'served.crl');
writeFileSync(served, clientCa.gencrl());
const crl = new CrlService({
  config: parseConfig({
    ...factoryConfig('mail.example.com'),
    certificates: { trustStore: [clientCa.trustStoreEntry('client-root')] },
    crl: {
      enabled: true,
      sources: [{ name: 'cac', fileType: 'asn1', primaryUrl: files.url(served), maxBytes: 4 * 1024 * 1024, schedule: { kind: 'hourly', minute: 0 } }],
    },
  }),
  stateDir: join(token.root, 'crl-state'),
  alerts: token.runtime.alerts,
  logs: token.runtime.logs,
  fetchWhenMissing: false,
});
t.teardown(() => crl.stop());
const goodCrl = await crl.fetchNow('cac');

const byCn = await freePort();
const byEmail = await freePort();
const relayed = (port: number, profile: string) =>
  listenerConfig(port, {
    name: `Relay${port}`,
    smtpAuthProfile: profile,
    policies: [
      {
        name: 'DEFAULT',
        connection: 'relay',
        maxMessageBytes: 100_000,
        maxRecipientsPerMessage: 5,
        maxMessagesPerConnection: 3,
        tls: 'required',
        verifyClientCertificate: true,
        smtpAuth: 'required',
      },
    ],
  }) ?? [];
let made: LdapSmtpAuthenticator | undefined;
const { mailLog } = await startGateway(
  t,
  fixture,
  {
    certificates: { trustStore: [clientCa.trustStoreEntry('client-root'), ldapCa.trustStoreEntry('directory-ca')], distrusted: [] },
    ldap: {
      servers: [ldapServerProfile([slapd])],
      queries: [
        { name: 'cac', type: 'certificate', server: 'corp', fields: ['cn', 'sn'], queryString: '(&(caccn={cn})(cacserial={sn}))', userIdAttribute: 'uid' },
        { name: 'bymail', type: 'certificate', server: 'corp', fields: ['email'], queryString: '(mail={email})', userIdAttribute: 'uid' },
      ],
    },
    smtpAuth: {
      profiles: [
        { name: 'cac-auth', type: 'certificate', certificateQuery: 'cac', allowSmtpAuthFallback: false },
        { name: 'mail-auth', type: 'certificate', certificateQuery: 'bymail', allowSmtpAuthFallback: false },
      ],
    },
    listeners: [...relayed(byCn, 'cac-auth'), ...relayed(byEmail, 'mail-auth')],
  },
  { checker: crl.revocationChecker(), whenUnknown: 'reject' },
  (config) => {
    made = new LdapSmtpAuthenticator(config, { logs: token.runtime.logs, logger: token.runtime.logger });
    return made;
  },
);
const authenticator = () => made!;
const authLog = () => readFileSync(join(token.root, 'logs', 'authentication', 'authentication.current'), 'utf8');
const external = 'someone@elsewhere.example.net';

/** STARTTLS with the certificate, then MAIL and RCPT to an outside domain: every reply, or where it stopped. */
async function present(port: number, certificate: { cert: string; key: string }): Promise<{ replies: string[]; relayed: boolean }> {
  const smtp = await RawSmtp.connect(port);
  const replies: string[] = [];
  try {
    replies.push(await smtp.reply());
    replies.push(await smtp.command('EHLO client.example.com'));
    replies.push(await smtp.command('STARTTLS'));
    try {
      await smtp.startTls(certificate);
    } catch (err) {
      replies.push(`handshake failed: ${(err as Error).message}`);
      return { replies, relayed: false };
    }
    const ehlo = await smtp.command('EHLO client.example.com');
    replies.push(ehlo);
    // A certificate refused after the handshake: the answer to the next command, then the session ends.
    if (!ehlo.startsWith('250')) return { replies, relayed: false };
    replies.push(await smtp.command('MAIL FROM:<someone@example.com>'));
    const rcpt = await smtp.command(`RCPT TO:<${external}>`);
    replies.push(rcpt);
    return { replies, relayed: rcpt.startsWith('250') };
  } catch (err) {
    replies.push(`error: ${(err as Error).message}`);
    return { replies, relayed: false };
  } finally {
    smtp.close();
  }
}

async function stillServes(t: Test, what: string) {
  const sent = await swaks({ port: byCn, tls: 'starttls', cert: john, to: external });
  t.match(sent.output, /<~ +250 2\.0\.0 Ok: queued as \d+/, `${what}: the gateway still relays a valid certificate`);
}

t.test('hostile names over real TLS: escaped, looked up, nobody let in, nothing crashes', async (t) => {
  const cases: [string, number, ReturnType<typeof hostileCertificate>, RegExp][] = [
    ['NUL and LDAP metacharacters in the CN', byCn, nulCn, /530 5\.7\.0 Authentication required/],
    ['CR LF and an escape sequence in the CN', byCn, forgedLog, /530 5\.7\.0 Authentication required/],
    ['a 10 KB subject of 121 RDNs', byCn, huge, /530 5\.7\.0 Authentication required/],
    ['LDAP metacharacters in the SAN email and UPN', byEmail, metaEmail, /530 5\.7\.0 Authentication required/],
    ['a NUL inside the SAN email', byEmail, nulEmail, /530 5\.7\.0 Authentication required/],
    ['an undecodable subjectAltName', byCn, badSan, /554 5\.7\.1 Client certificate rejected|handshake failed|530 5\.7\.0/],
  ];
  for (const [what, port, certificate, expected] of cases) {
    const result = await present(port, certificate);
    t.notOk(result.relayed, `${what}: not relayed`, { replies: result.replies });
    t.match(result.replies.join('\n'), expected, `${what}: ${expected.source}`);
    t.notOk(
      result.replies.some((r) => /^[45]\d\d (?![45]\.\d+\.\d+ )/.test(r.split('\n').at(-1) ?? '')),
      `${what}: every refusal carries an enhanced status code`,
    );
  }
  const log = authLog();
  t.match(log, /User "ALICE\\u0000\*\)\(uid=\*" login .* failed: the certificate's cn contains a NUL character, which cannot name a user/, 'a NUL in the CN names nobody');
  t.notMatch(log, /User "alice" login .* succeeded/, 'the value is not cut at the NUL: alice is not logged in');
  t.match(log, /User "NUL\.EMAIL\.2" login .* failed: the certificate's email contains a NUL character/, 'a NUL in the SAN email names nobody');
  t.notMatch(log, /User "bob" login .* succeeded/, "bob is not logged in by a SAN cut at its NUL (OpenLDAP's IA5 match would stop there)");
  const fieldsOf = (c: { der: Buffer }) => parseCertificate(new X509Certificate(c.der)).fields;
  const shown = await testQuery(authenticator(), 'bymail', { certificate: fieldsOf(metaEmail) });
  t.match(
    shown,
    { outcome: /^no user: no directory entry matches/, searches: [{ filter: '(mail=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28mail=\\2a)', entries: [] }] },
    'the SAN email reaches the directory escaped',
  );
  const metaCn = await testQuery(authenticator(), 'cac', { certificate: { ...fieldsOf(huge), cn: 'ALICE*)(uid=*' } });
  t.match(metaCn.searches, [{ filter: /^\(&\(caccn=ALICE\\2a\\29\\28uid=\\2a\)\(cacserial=[0-9A-F]+\)\)$/, entries: [] }], 'and so does a CN');
  const logs: [string, string][] = [
    ['mail', mailLog()],
    ['authentication', log],
  ];
  for (const [file, text] of logs) {
    const forged = text.split('\n').filter((line) => line.includes('forged@example.com'));
    t.ok(forged.length > 0 && forged.every((line) => line.includes('MALLORY')), `a CN cannot start a line of its own in the ${file} log`);
    t.notOk(text.includes('\u0000') || text.includes('\u001b'), `nor put a NUL or a terminal escape into the ${file} log`);
  }

  const unicode = await present(byCn, bmpCn);
  t.ok(unicode.relayed, 'a BMPString CN is read as the text it encodes: its holder logs in', { replies: unicode.replies });
  t.match(authLog(), /User "bmpuser" login .* succeeded/);
  await stillServes(t, 'after the hostile certificates');
});

t.test('seeded corruptions of a certificate go through the parsers the gateway uses: a clear error or clean fields', async (t) => {
  const base = nulEmail.der;
  let refusedByOpenssl = 0;
  let refusedByParser = 0;
  let parsed = 0;
  for (let i = 0; i < 400; i++) {
    const corrupt = Buffer.from(base);
    const kind = random();
    let input: Buffer = corrupt;
    if (kind < 0.4) {
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) corrupt[Math.floor(random() * corrupt.length)] = Math.floor(random() * 256);
    } else if (kind < 0.7) {
      // A length byte set to something else: what "bad lengths" look like.
      const at = 1 + Math.floor(random() * (corrupt.length - 1));
      corrupt[at] = [0x00, 0x7f, 0x80, 0x81, 0x84, 0x89, 0xff][Math.floor(random() * 7)]!;
    } else if (kind < 0.85) {
      input = corrupt.subarray(0, Math.floor(random() * corrupt.length));
    } else {
      input = Buffer.concat([corrupt, randomBytes(1 + Math.floor(random() * 64))]);
    }
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(input);
    } catch {
      refusedByOpenssl++;
      continue;
    }
    try {
      const { fields } = parseCertificate(certificate);
      t.ok(
        Object.values(fields).every((v) => typeof v === 'string'),
        `corruption ${i}: fields are strings`,
      );
      parsed++;
    } catch (err) {
      t.type(err, Error, `corruption ${i}: an Error, which verifyClientCertificate turns into "the certificate's extensions cannot be read"`);
      refusedByParser++;
    }
    const decision = crl.check(input);
    t.ok(decision.accept === false || decision.status === 'good', `corruption ${i}: the CRL check answers (${decision.status})`);
  }
  t.comment(`400 corruptions: ${refusedByOpenssl} refused by OpenSSL, ${refusedByParser} by the field parser, ${parsed} parsed`);
  t.ok(refusedByOpenssl > 0, 'some corruptions are not certificates at all');
  for (const [what, bad] of [
    ['an odd-length BMPString', oddBmp],
    ['invalid UTF-8', badUtf8],
  ] as const) {
    t.throws(() => new X509Certificate(bad.der), `${what} in the CN: not a certificate to OpenSSL, which verifyClientCertificate reports as unparsable`);
    t.match(crl.check(bad.der), { status: /^(good|unreadable)$/ }, `${what} in the CN: the CRL check, which reads no strings, still answers`);
  }
  t.match(crl.check(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), { accept: false, status: 'unreadable', message: /truncated/ }, 'a 4 GB length is refused, not read');
  t.match(crl.check(Buffer.from([0x30, 0x80, 0x00, 0x00])), { accept: false, status: 'unreadable', message: /indefinite length/ }, 'an indefinite length is refused');
  await stillServes(t, 'after the corruptions');
});

// A CRL body signed by the client CA (so only its structure is wrong), with the tbsCertList's parts given as built.
function signedCrl(parts: { revoked?: Buffer; thisUpdate?: Buffer; number?: number }): Buffer {
  const caCert = certificateFields(new X509Certificate(clientCa.pem).raw);
  const now = Date.now();
  const extensions = der(0xa0, der(0x30, extension('551d23', der(0x30, der(0x80, caCert.subjectKeyId!))), extension('551d14', der(0x02, Buffer.from([parts.number ?? 90])))));
  const tbs = der(
    0x30,
    der(0x02, Buffer.from([1])),
    ecdsaWithSha256,
    caCert.subject,
    parts.thisUpdate ?? utcTime(new Date(now - 60_000)),
    utcTime(new Date(now + 7 * 86400_000)),
    ...(parts.revoked ? [parts.revoked] : []),
    extensions,
  );
  return der(0x30, tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), sign('sha256', tbs, createPrivateKey(readFileSync(clientCa.keyPath)))));
}
const entry = (serial: Buffer, ...rest: Buffer[]) => der(0x30, der(0x02, serial), utcTime(new Date(Date.now() - 3600_000)), ...rest);
const reason = (tag: number, code: number) => der(0x30, der(0x30, oid('551d15'), der(0x04, der(tag, Buffer.from([code])))));

t.test('CRLs signed by the trusted CA but malformed inside: refused with the reason, the last good CRL stays', async (t) => {
  t.equal(goodCrl.lastError, undefined, 'the CA’s own CRL was accepted first');
  const revokedSerial = Buffer.from(revoked.serial, 'hex');
  const johnSerial = Buffer.from(john.serial, 'hex');
  // Many entries, each serial different.
  const many = (count: number) => {
    const one = entry(Buffer.from('4000000000', 'hex'));
    const body = Buffer.alloc(one.length * count);
    for (let i = 0; i < count; i++) {
      one.copy(body, i * one.length);
      body.writeUInt32BE(i, i * one.length + 5);
    }
    return body;
  };
  const cases: [string, Buffer, RegExp][] = [
    ['an entry whose length runs past its list', signedCrl({ revoked: der(0x30, Buffer.from([0x30, 0x7f]), entry(johnSerial)) }), /revokedCertificates entry: truncated/],
    ['a 9-byte length of length', signedCrl({ revoked: der(0x30, Buffer.from([0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9])) }), /length of 9 bytes is too large/],
    ['an indefinite-length entry', signedCrl({ revoked: der(0x30, Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00])) }), /indefinite length is not DER/],
    ['revokedCertificates as a SET', signedCrl({ revoked: der(0x31, entry(johnSerial)) }), /unexpected element with tag 0x31/],
    ['a serial as an OCTET STRING', signedCrl({ revoked: der(0x30, der(0x30, der(0x04, johnSerial), utcTime(new Date()))) }), /has no serial number/],
    ['an empty serial', signedCrl({ revoked: der(0x30, der(0x30, der(0x02), utcTime(new Date()))) }), /empty serial number/],
    ['a reasonCode as an INTEGER', signedCrl({ revoked: der(0x30, entry(johnSerial, reason(0x02, 1))) }), /reasonCode: expected tag 0xa/],
    ['thisUpdate as an OCTET STRING', signedCrl({ thisUpdate: der(0x04, Buffer.from('261129000000Z')) }), /thisUpdate: bad|thisUpdate/],
    ['a revocation date that is not a time', signedCrl({ revoked: der(0x30, der(0x30, der(0x02, johnSerial), der(0x0c, Buffer.from('yesterday')))) }), /has no revocationDate/],
    ['200,000 entries, over the source’s 4 MB limit', signedCrl({ revoked: der(0x30, many(200_000)) }), /exceeded the limit of 4194304 bytes|4194304/],
  ];
  for (const [what, body, expected] of cases) {
    writeFileSync(served, body);
    const status = await crl.fetchNow('cac');
    t.match(status.lastError, expected, `${what}: refused, saying why`);
    t.equal(status.lastSuccess, goodCrl.lastSuccess, `${what}: the last good CRL stays in use`);
    t.match(crl.check(revoked.der), { status: 'revoked', accept: false }, `${what}: the revoked certificate is still refused`);
    t.match(crl.check(john.der), { status: 'good', accept: true }, `${what}: a good one still passes`);
  }
  // A huge count that fits: 100,000 well-formed entries, one of them john's, all read.
  writeFileSync(served, signedCrl({ revoked: der(0x30, many(100_000), entry(johnSerial, reason(0x0a, 1))), number: 91 }));
  const large = await crl.fetchNow('cac');
  t.match(large, { lastError: undefined, entries: 100_001 }, 'a signed CRL of 100,001 entries is read entry for entry');
  t.match(crl.check(john.der), { status: 'revoked', reason: 'keyCompromise', accept: false }, 'and answers from it');
  const refusedJohn = await swaks({ port: byCn, tls: 'starttls', cert: john, to: external });
  t.match(refusedJohn.output, /554 5\.7\.1 Client certificate rejected: the certificate is revoked \(keyCompromise\)/, 'the gateway refuses john over TLS now');

  writeFileSync(served, signedCrl({ revoked: der(0x30, entry(revokedSerial, reason(0x0a, 1))), number: 92 }));
  t.match(await crl.fetchNow('cac'), { lastError: undefined, entries: 1 }, 'a well-formed next CRL is accepted again');
  await stillServes(t, 'after the malformed CRLs');
});
