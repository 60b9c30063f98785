import { verify, X509Certificate } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import t from 'tap';
import { initialisedToken, openHsm, openssl, pkcs11Tool, testCa } from '../helpers/softhsm.js';

t.test('key pairs of every supported type are made in the HSM, sensitive and never extractable', async (t) => {
  const token = await initialisedToken(t);
  const { keys, pool, certificates } = openHsm(t, token);
  for (const algorithm of ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384'] as const) {
    const info = await keys.generate({ label: `k-${algorithm}`, algorithm });
    t.match(info, { label: `k-${algorithm}`, algorithm, backup: false, id: /^[0-9a-f]{40}$/ });
    const data = Buffer.from(`proof for ${algorithm}`);
    t.ok(verify(algorithm === 'ec-p384' ? 'sha384' : 'sha256', data, await keys.publicKey(info.label), await keys.sign(info.label, data)), `${algorithm} signs`);
    await certificates.selfSign(info.label, { subject: { commonName: algorithm }, days: 1 });
    t.ok(new X509Certificate(await certificates.exportPem(info.label)).verify(await keys.publicKey(info.label)), `${algorithm} makes a certificate that verifies`);
  }
  t.same(
    (await keys.list()).map((k) => k.algorithm),
    ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'],
  );
  const listing = pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output;
  t.match(listing, /Private Key Object; RSA[\s\S]*label:\s+k-rsa-4096[\s\S]*Access:\s+sensitive, always sensitive, never extractable, local/);
  t.notMatch(listing, /Access:[^\n]*\bextractable\b(?<!never extractable)/, 'no key is extractable');
  const privateValue = await pool.run((session, lib) => {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_LABEL, value: 'k-ec-p256' },
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ]);
    const [found] = lib.C_FindObjects(session, 1);
    lib.C_FindObjectsFinal(session);
    try {
      return lib.C_GetAttributeValue(session, found!, [{ type: pkcs11js.CKA_VALUE }]);
    } catch (error) {
      return error;
    }
  });
  t.match(privateValue, { code: pkcs11js.CKR_ATTRIBUTE_SENSITIVE }, 'the HSM refuses to reveal the private value');
});

t.test('a backup-able key is extractable only under a trusted wrapping key', async (t) => {
  const token = await initialisedToken(t);
  const { keys, pool } = openHsm(t, token);
  t.match(await keys.generate({ label: 'dkim', algorithm: 'rsa-2048', backup: true }), { backup: true });
  const flags = await pool.run((session, lib) => {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_LABEL, value: 'dkim' },
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ]);
    const [found] = lib.C_FindObjects(session, 1);
    lib.C_FindObjectsFinal(session);
    return lib
      .C_GetAttributeValue(session, found!, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_WRAP_WITH_TRUSTED }])
      .map((a) => (a.value as Buffer)[0]);
  });
  t.same(flags, [1, 1, 1], 'sensitive, extractable, wrap-with-trusted');
  await t.rejects(keys.generate({ label: 'dkim', algorithm: 'ec-p256' }), /already exists/, 'labels are unique');
  await t.rejects(keys.generate({ label: 'bad label', algorithm: 'ec-p256' }), /must be 1-128 letters/);
});

t.test('a self-signed certificate signed in the HSM sits next to its key', async (t) => {
  const token = await initialisedToken(t);
  const { keys, certificates } = openHsm(t, token);
  const key = await keys.generate({ label: 'mail-tls', algorithm: 'ec-p256' });
  const info = await certificates.selfSign('mail-tls', { subject: { commonName: 'mail.example.com', organization: 'Example' }, dnsNames: ['mail.example.com'], days: 365 });
  t.match(info, { label: 'mail-tls', id: key.id, subject: 'CN=mail.example.com,O=Example', chainLength: 0 });
  const pem = await certificates.exportPem('mail-tls');
  const cert = new X509Certificate(pem);
  t.ok(cert.verify(await keys.publicKey('mail-tls')), 'the certificate verifies with the HSM key');
  t.match(cert.subjectAltName, 'DNS:mail.example.com');
  t.match(openssl(['x509', '-noout', '-text'], pem), /Signature Algorithm: ecdsa-with-SHA256[\s\S]*CA:FALSE[\s\S]*TLS Web Server Authentication/);
  const listing = pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output;
  const ids = [...listing.matchAll(/(Private Key|Public Key|Certificate) Object[\s\S]*?label:\s+(\S+)[\s\S]*?ID:\s+([0-9a-f]+)/g)].map((m) => [m[1], m[2], m[3]]);
  t.same(
    ids.sort(),
    [
      ['Certificate', 'mail-tls', key.id],
      ['Private Key', 'mail-tls', key.id],
      ['Public Key', 'mail-tls', key.id],
    ],
    'pkcs11-tool shows certificate, private and public key with one label and one CKA_ID',
  );
  t.match(await certificates.list(), [{ label: 'mail-tls', fingerprint256: cert.fingerprint256 }]);
});

t.test('a CSR made in the HSM is signed by a CA and imported with its chain; a certificate of another key is refused', async (t) => {
  const token = await initialisedToken(t);
  const { keys, certificates } = openHsm(t, token);
  await keys.generate({ label: 'mail-rsa', algorithm: 'rsa-3072' });
  await keys.generate({ label: 'other', algorithm: 'rsa-2048' });
  const csr = await certificates.csr('mail-rsa', { subject: { commonName: 'mail.example.com', country: 'US' }, dnsNames: ['mail.example.com', 'smtp.example.com'] });
  t.match(openssl(['req', '-verify', '-noout', '-text'], csr), /C\s*=\s*US, CN\s*=\s*mail\.example\.com[\s\S]*DNS:mail\.example\.com, DNS:smtp\.example\.com/);
  const ca = testCa(token);
  const signed = ca.sign(csr);
  const otherCsr = await certificates.csr('other', { subject: { commonName: 'other.example.com' } });
  const otherSigned = ca.sign(otherCsr);
  await t.rejects(certificates.import('mail-rsa', otherSigned), { code: 'certificate-mismatch' }, 'a certificate for another key is refused');
  await t.rejects(certificates.show('mail-rsa'), /has no certificate/, 'and nothing was stored');
  await t.rejects(certificates.import('mail-rsa', 'not a certificate'), /no PEM certificate/);
  const info = await certificates.import('mail-rsa', signed + ca.pem);
  t.match(info, { issuer: 'CN=Test CA', chainLength: 1 });
  t.equal(await certificates.exportPem('mail-rsa', { chain: true }), new X509Certificate(signed).toString() + new X509Certificate(ca.pem).toString());
  t.ok(openssl(['verify', '-CAfile', ca.cert], await certificates.exportPem('mail-rsa')).includes('OK'), 'the exported leaf verifies against the CA');
  const listing = pkcs11Tool(token, ['--list-objects', '--type', 'cert']).output;
  t.match(listing, /label:\s+mail-rsa\n/);
  t.match(listing, /label:\s+mail-rsa\.chain1\n/);
  await certificates.delete('mail-rsa');
  t.match(await keys.show('mail-rsa'), { label: 'mail-rsa' }, 'deleting the certificate keeps the key');
  await certificates.import('mail-rsa', signed + ca.pem);
  await keys.delete('mail-rsa');
  await t.rejects(keys.show('mail-rsa'), /no key labelled "mail-rsa"/);
  t.notMatch(pkcs11Tool(token, ['--login', '--pin', token.userPin, '--list-objects']).output, /mail-rsa/, 'key, certificate and chain are gone from the token');
  t.match(await keys.list(), [{ label: 'other' }]);
});
