// The streaming CRL scanner, against CRLs made by the real openssl CLI.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { judgeCrl } from '../../src/mail/crl/acceptance.js';
import { certificateFields, trustAnchors } from '../../src/mail/crl/certificate.js';
import { crlDer, crlDerFile } from '../../src/mail/crl/decode.js';
import { CrlFormatError, serialKeyFromHex, serialKeyToHex } from '../../src/mail/crl/der.js';
import { reasonName } from '../../src/mail/crl/reasons.js';
import { bufferSource, scanCrl, scanCrlFile, scanSource } from '../../src/mail/crl/scan.js';
import { tempState } from '../helpers/state.js';
import { openssl, TestCa } from '../helpers/test-ca.js';

function listed(crl: ReturnType<typeof scanCrl>): Record<string, string> {
  return Object.fromEntries([...crl.revoked].map(([key, reason]) => [serialKeyToHex(key), reasonName(reason)]));
}

t.test('an openssl CRL is read field by field: issuer, key id, number, dates, serials and reasons', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Scan Root CA', organization: 'Example Gov' });
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((commonName) => ca.issue({ commonName }));
  ca.revoke(alice!, 'keyCompromise');
  ca.revoke(bob!, 'certificateHold');
  ca.revoke(carol!, 'superseded');
  const der = ca.gencrl({ days: 3 });
  writeFileSync(join(dir, 'crl.der'), der);
  const crl = scanCrl(der);

  t.ok(crl.issuer.equals(certificateFields(new X509Certificate(ca.pem).raw).subject), 'the issuer is the CA subject, byte for byte');
  const ski = openssl(['x509', '-in', ca.certPath, '-noout', '-ext', 'subjectKeyIdentifier']).split('\n')[1]!.trim().replace(/:/g, '').toLowerCase();
  t.equal(crl.authorityKeyId?.toString('hex'), ski, 'the authority key identifier is the CA key id');
  t.equal(crl.crlNumber, 1n);
  const dates = openssl(['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-noout', '-lastupdate', '-nextupdate']);
  t.equal(crl.thisUpdate.getTime(), new Date(dates.match(/lastUpdate=(.*)/)![1]!).getTime(), 'thisUpdate as openssl reads it');
  t.equal(crl.nextUpdate?.getTime(), new Date(dates.match(/nextUpdate=(.*)/)![1]!).getTime(), 'nextUpdate as openssl reads it');
  t.same(listed(crl), { [alice!.serial]: 'keyCompromise', [bob!.serial]: 'certificateHold', [carol!.serial]: 'superseded' });
  t.notOk(crl.revoked.has(serialKeyFromHex(dave!.serial)), 'an unrevoked certificate is not listed');
  t.equal(crl.signatureAlgorithm.oid, '1.2.840.10045.4.3.2', 'ecdsa-with-SHA256');
  t.equal(crl.tbs.length + crl.signature.length < der.length, true, 'the TBS and the signature are slices of the input');
  t.equal(crl.deltaCrlIndicator, undefined);

  t.equal(scanCrl(ca.gencrl()).crlNumber, 2n, 'each -gencrl has the next CRL number');
});

t.test('a PEM CRL decodes to the same DER; the declared file type is enforced', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'PEM CA' });
  ca.revoke(ca.issue({ commonName: 'x' }), 'affiliationChanged');
  const pem = ca.gencrl({ format: 'pem' });
  openssl(['crl', '-in', join(dir, 'ca', 'crl.pem'), '-outform', 'DER', '-out', join(dir, 'crl.der')]);
  const der = readFileSync(join(dir, 'crl.der'));
  t.ok(crlDer(pem, 'pem').equals(der), 'PEM body decodes to the DER openssl writes');
  t.equal(scanCrl(crlDer(pem, 'pem')).revoked.size, 1);
  t.ok(crlDer(der, 'asn1').equals(der), 'a DER body is used as it is');
  t.throws(() => crlDer(der, 'pem'), new CrlFormatError('the source is declared PEM but served DER'));
  t.throws(() => crlDer(pem, 'asn1'), new CrlFormatError('the source is declared ASN.1 (DER) but served PEM'));
  t.throws(() => crlDer(Buffer.from('<html>Not Found</html>'), 'pem'), /declared PEM but the body is not PEM/);
  t.throws(() => crlDer(Buffer.from('-----BEGIN X509 CRL-----\nAAAA'), 'pem'), /no complete "X509 CRL" block/);
  t.throws(() => crlDer(Buffer.alloc(0), 'asn1'), /the download is empty/);
});

t.test('a PEM file is decoded a window at a time into the same DER, with the same refusals', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'PEM CA' });
  for (let i = 0; i < 40; i++) ca.revoke(ca.issue({ commonName: `user ${i}` }), 'superseded');
  const pem = Buffer.from(`some text before\n${ca.gencrl({ format: 'pem' }).toString('latin1')}trailing text\n`);
  const der = crlDer(pem, 'pem');
  const file = (name: string, body: Buffer | string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };
  for (const windowSize of [7, 23, 24, 25, 64, 1000, 1 << 20]) {
    const path = file(`crl-${windowSize}.pem`, pem);
    const out = crlDerFile(path, 'pem', windowSize);
    t.equal(out, `${path}.der`);
    t.ok(readFileSync(out).equals(der), `window ${windowSize}: the same DER`);
  }
  const derPath = file('crl.der', der);
  t.equal(crlDerFile(derPath, 'asn1'), derPath, 'a DER file is used where it lies');
  const refusals: [string, Buffer | string, 'pem' | 'asn1', RegExp][] = [
    ['der-as-pem', der, 'pem', /^the source is declared PEM but served DER$/],
    ['pem-as-der', pem, 'asn1', /^the source is declared ASN\.1 \(DER\) but served PEM$/],
    ['html', '<html>Not Found</html>', 'pem', /^the source is declared PEM but the body is not PEM$/],
    ['unfinished', '-----BEGIN X509 CRL-----\nAAAA', 'pem', /^the PEM body has no complete "X509 CRL" block$/],
    ['dash', '-----BEGIN X509 CRL-----\nAA-AA\n-----END X509 CRL-----\n', 'pem', /^the PEM "X509 CRL" block is not base64$/],
    ['secret', '-----BEGIN X509 CRL-----\nSECRET:PIN\n-----END X509 CRL-----\n', 'pem', /^the PEM "X509 CRL" block is not base64$/],
    ['empty-block', '-----BEGIN X509 CRL-----\n\n-----END X509 CRL-----\n', 'pem', /^the PEM "X509 CRL" block is empty$/],
    ['empty', '', 'asn1', /^the download is empty$/],
  ];
  for (const [name, body, type, reason] of refusals) {
    for (const windowSize of [5, 1 << 20]) {
      const path = file(`${name}-${windowSize}`, body);
      t.throws(() => crlDerFile(path, type, windowSize), reason, `${name}, window ${windowSize}`);
      t.notOk(existsSync(`${path}.der`), `${name}: no DER file is left`);
    }
  }
});

t.test('malformed input is refused with a CrlFormatError, never a crash', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Fuzz CA' });
  for (const reason of ['keyCompromise', 'certificateHold'] as const) ca.revoke(ca.issue({ commonName: reason }), reason);
  const der = ca.gencrl();
  t.throws(() => scanCrl(Buffer.alloc(0)), new CrlFormatError('the CRL is empty'));
  t.throws(() => scanCrl(Buffer.from('garbage that is not DER at all')), CrlFormatError);
  t.throws(() => scanCrl(Buffer.concat([der, Buffer.from([0])])), /trailing data/);
  let truncations = 0;
  for (let length = 1; length < der.length; length++) {
    try {
      scanCrl(der.subarray(0, length));
      t.fail(`a CRL cut to ${length} of ${der.length} bytes was accepted`);
    } catch (error) {
      if (!(error instanceof CrlFormatError)) throw error;
      truncations++;
    }
  }
  t.equal(truncations, der.length - 1, 'every truncation is refused as malformed');
  // Every single-byte corruption either still parses (a changed serial or date) or is refused as malformed.
  for (let at = 0; at < der.length; at++) {
    const corrupt = Buffer.from(der);
    corrupt[at] = corrupt[at]! ^ 0xff;
    try {
      scanCrl(corrupt);
    } catch (error) {
      if (!(error instanceof CrlFormatError)) t.fail(`byte ${at} corrupted threw ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
});

t.test('a large CRL written with node:crypto is valid for openssl and scanned entry for entry', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Large CA', key: 'rsa-2048' });
  const extra = ca.issue({ commonName: 'listed' });
  const der = ca.writeCrl({ count: 20_000, syntheticReason: 5, entries: [{ serial: extra.serial, reason: 6 }], crlNumber: 77 });
  const path = join(dir, 'large.crl');
  writeFileSync(path, der);
  const text = openssl(['crl', '-inform', 'DER', '-in', path, '-CAfile', ca.certPath, '-noout', '-text']);
  t.equal(text.match(/Serial Number:/g)?.length, 20_001, 'openssl counts every entry');
  t.doesNotThrow(() => openssl(['crl', '-inform', 'DER', '-in', path, '-CAfile', ca.certPath, '-noout']), 'openssl verifies the signature');
  const crl = scanCrl(der);
  t.equal(crl.revoked.size, 20_001);
  t.equal(crl.crlNumber, 77n);
  t.equal(reasonName(crl.revoked.get(serialKeyFromHex(extra.serial))!), 'certificateHold');
  const first = text.match(/Serial Number: ([0-9A-F]+)/)![1]!;
  t.equal(reasonName(crl.revoked.get(serialKeyFromHex(first))!), 'cessationOfOperation', 'the synthetic entries carry their reason');
  t.equal(scanCrl(ca.writeCrl({ deltaOf: 76, crlNumber: 78 })).deltaCrlIndicator, 76n, 'a delta CRL is recognised');
});

t.test('a file is scanned a window at a time: every window size gives the same CRL, and the signature verifies from the file', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Window CA', key: 'rsa-2048' });
  const extra = ca.issue({ commonName: 'listed' });
  const der = ca.writeCrl({ count: 3_000, syntheticReason: 1, entries: [{ serial: extra.serial, reason: 6 }], crlNumber: 9 });
  const path = join(dir, 'window.crl');
  writeFileSync(path, der);
  const whole = scanCrl(der);
  const anchors = trustAnchors([{ name: 'window', pem: ca.pem }]);
  for (const windowSize of [64, 100, 1000, 4099, 65_536, 1 << 22]) {
    const crl = scanCrlFile(path, windowSize);
    t.same(listed(crl), listed(whole), `window ${windowSize}: the same entries and reasons`);
    t.equal(crl.crlNumber, 9n);
    t.ok(crl.issuer.equals(whole.issuer));
    t.equal(crl.tbs.length, whole.tbs.length);
    t.match(
      judgeCrl(crl, anchors, { now: new Date(), heldFor: () => undefined }),
      { accepted: true },
      `window ${windowSize}: the signature verifies over the TBS read from the file`,
    );
  }
  const tampered = Buffer.from(der);
  tampered[der.length - 400] = tampered[der.length - 400]! ^ 0x01; // inside the revoked list, near its end
  writeFileSync(path, tampered);
  let verdict: ReturnType<typeof judgeCrl> | undefined;
  try {
    verdict = judgeCrl(scanCrlFile(path, 1000), anchors, { now: new Date(), heldFor: () => undefined });
  } catch (error) {
    t.type(error, CrlFormatError, 'or it no longer parses');
  }
  if (verdict) t.match(verdict, { accepted: false, reason: /signature does not verify/ }, 'a changed byte read through the file fails the signature');
  t.throws(() => scanCrlFile(path, 20), /does not fit in a 20-byte window/, 'an entry larger than the window is a clear error');
});

t.test('windowed scans refuse every truncation and survive every corruption', async (t) => {
  const dir = tempState(t, 'crl-scan-');
  const ca = new TestCa({ dir: join(dir, 'ca'), commonName: 'Fuzz CA' });
  for (const reason of ['keyCompromise', 'certificateHold', 'superseded'] as const) ca.revoke(ca.issue({ commonName: reason }), reason);
  const der = ca.gencrl();
  for (let length = 1; length < der.length; length++) {
    t.throws(() => scanSource(bufferSource(der.subarray(0, length)), 64), CrlFormatError);
  }
  for (let at = 0; at < der.length; at++) {
    const corrupt = Buffer.from(der);
    corrupt[at] = corrupt[at]! ^ 0xff;
    try {
      scanSource(bufferSource(corrupt), 64);
    } catch (error) {
      if (!(error instanceof CrlFormatError)) t.fail(`byte ${at} corrupted threw ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  t.throws(() => scanCrl(Buffer.from(`SECRET-PIN-${'x'.repeat(40)}`)), /^the body is not a DER CRL \(51 bytes that do not start with a SEQUENCE\)$/);
  t.notMatch(String(t.throws(() => scanCrl(Buffer.from('0SECRET-PIN-1234567890')))), /SECRET/, 'the bytes of a body are never quoted');
});
