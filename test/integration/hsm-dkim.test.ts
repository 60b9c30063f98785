import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { text } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import pkcs11js from 'pkcs11js';
import t from 'tap';
import { dkimLabel, dkimSign, dkimTxtRecord, generateDkimKey } from '../../src/hsm/dkim.js';
import { keyIdOf } from '../../src/hsm/keys.js';
import type { SessionPool } from '../../src/hsm/pool.js';
import { initialisedToken, openHsm } from '../helpers/softhsm.js';

const message = Buffer.from(
  [
    'From: Alice <alice@example.com>',
    'To: bob@example.org',
    'Subject:   Quarterly   report\t ',
    '  folded onto a second line',
    'Date: Sun, 29 Nov 2026 17:00:00 +0000',
    'Message-ID: <1@example.com>',
    'X-Not-Signed: yes',
    '',
    'Hello Bob,  ',
    '',
    'the \t figures are attached.',
    '',
    '',
  ].join('\r\n'),
);
const signed = ['from', 'to', 'subject', 'date', 'message-id'];

/** Puts a software RSA key on the token the way generate() would, so a second signer can hold the same key. */
async function importRsaKey(pool: SessionPool, label: string, pem: string): Promise<void> {
  const jwk = createPrivateKey(pem).export({ format: 'jwk' });
  const part = (name: 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi') => Buffer.from(jwk[name]!, 'base64url');
  const id = keyIdOf(createPublicKey(pem));
  await pool.run((session, lib) => {
    const common = [
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_MODULUS, value: part('n') },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: part('e') },
    ];
    lib.C_CreateObject(session, [...common, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_VERIFY, value: true }]);
    lib.C_CreateObject(session, [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: part('d') },
      { type: pkcs11js.CKA_PRIME_1, value: part('p') },
      { type: pkcs11js.CKA_PRIME_2, value: part('q') },
      { type: pkcs11js.CKA_EXPONENT_1, value: part('dp') },
      { type: pkcs11js.CKA_EXPONENT_2, value: part('dq') },
      { type: pkcs11js.CKA_COEFFICIENT, value: part('qi') },
    ]);
  });
}

const tag = (header: string, name: string) => new RegExp(`(?:^|;)\\s*${name}=([^;]*)`).exec(header.replace(/^DKIM-Signature:/i, ''))?.[1]?.replace(/\s+/g, '');

t.test('the HSM makes the same DKIM signature as nodemailer does with the same key in software', async (t) => {
  const token = await initialisedToken(t);
  const { pool, keys } = openHsm(t, token);
  const selector = { domain: 'example.com', selector: 'mail2026' };
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await importRsaKey(pool, dkimLabel(selector), pem);
  const ours = await dkimSign(keys, selector, message, signed);
  const reference = await text(new DKIM({ domainName: 'example.com', keySelector: 'mail2026', privateKey: pem, headerFieldNames: signed.join(':') }).sign(message));
  const theirs = reference.slice(0, reference.indexOf('\r\nFrom:'));
  t.equal(tag(ours, 'bh'), tag(theirs, 'bh'), 'same relaxed body hash');
  t.equal(tag(ours, 'h'), 'from:to:subject:date:message-id');
  t.ok(tag(ours, 'b')!.length > 300, 'a 2048-bit signature');
  t.equal(tag(ours, 'b'), tag(theirs, 'b'), 'same signature: same canonicalization, RSA-SHA256 made in the HSM');
  t.match(ours, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com; q=dns\/txt; s=mail2026; /);
  t.ok(
    ours.split('\r\n').every((line) => line.length <= 998),
    'header lines stay within SMTP limits',
  );
});

t.test('a DKIM key per domain and selector is made in the HSM and published as a TXT record', async (t) => {
  const token = await initialisedToken(t);
  const { keys } = openHsm(t, token);
  const selector = { domain: 'Example.COM', selector: 's1' };
  t.match(await generateDkimKey(keys, selector), { label: 'dkim.s1.example.com', algorithm: 'rsa-2048', backup: true });
  const record = await dkimTxtRecord(keys, selector);
  t.equal(record.name, 's1._domainkey.example.com');
  const p = /p=([A-Za-z0-9+/=]+)$/.exec(record.value)![1]!;
  t.ok(createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' }).equals(await keys.publicKey('dkim.s1.example.com')), 'the TXT record publishes the HSM key');
  t.match(record.zoneLine, /^s1\._domainkey\.example\.com\. IN TXT \( "v=DKIM1; k=rsa; p=[^"]+" "[^"]+" \)$/);
  const strings = [...record.zoneLine.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  t.same(
    strings.map((s) => s.length),
    [255, record.value.length - 255],
    'the zone line splits the value into 255-character strings',
  );
  t.equal(strings.join(''), record.value);
  await t.rejects(dkimSign(keys, { domain: 'example.com', selector: 'missing' }, message), /no key labelled "dkim\.missing\.example\.com"/);
  await t.rejects(dkimSign(keys, selector, Buffer.from('To: x@example.org\r\n\r\nno sender\r\n')), /must cover the From header/);
  t.throws(() => dkimLabel({ domain: 'bad domain', selector: 's1' }), /not a domain name/);
  await keys.generate({ label: dkimLabel({ domain: 'example.com', selector: 'ec' }), algorithm: 'ec-p256' });
  await t.rejects(dkimSign(keys, { domain: 'example.com', selector: 'ec' }, message), /is not an RSA key/);
});
