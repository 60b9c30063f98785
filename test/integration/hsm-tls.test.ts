import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { tlsOptionsFor } from '../../src/hsm/tls-options.js';
import { initialisedToken, openHsm, sClient, testCa } from '../helpers/softhsm.js';

// The OpenSSL engine binds to the first token it sees and dies when the module is finalized:
// one TLS test per file (each file is its own process).
t.test('a Node TLS server with the key in the HSM completes a handshake with openssl s_client', async (t) => {
  const token = await initialisedToken(t);
  const { keys, certificates } = openHsm(t, token);
  await keys.generate({ label: 'mail-tls', algorithm: 'ec-p256' });
  const ca = testCa(token);
  await certificates.import('mail-tls', ca.sign(await certificates.csr('mail-tls', { subject: { commonName: 'mail.example.com' } })) + ca.pem);
  const options = await tlsOptionsFor(certificates, 'mail-tls', { tokenLabel: token.hsm.tokenLabel, pinFile: token.files.userPin });
  t.match(options.privateKeyIdentifier, /^pkcs11:token=appliance;object=mail-tls;type=private\?pin-source=file:\//);
  t.notMatch(options.privateKeyIdentifier, token.userPin, 'the PIN is not in the URI');
  let served = '';
  const server = tls.createServer({ ...options, minVersion: 'TLSv1.2' }, (socket) => {
    served = socket.getProtocol() ?? '';
    socket.end('220 mail.example.com\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const output = await sClient((server.address() as AddressInfo).port, ca.cert);
  t.match(output, /Verification: OK/, 'the client verified the chain from the token');
  t.match(output, /Peer certificate: CN\s*=\s*mail\.example\.com/);
  t.match(output, /220 mail\.example\.com/, 'data flowed after the handshake');
  t.match(served, /TLSv1\.[23]/);
  await t.rejects(tlsOptionsFor(certificates, 'missing', { tokenLabel: 'appliance', pinFile: token.files.userPin }), /no key labelled "missing"/);
  await keys.generate({ label: 'no-cert', algorithm: 'ec-p256' });
  await t.rejects(tlsOptionsFor(certificates, 'no-cert', { tokenLabel: 'appliance', pinFile: token.files.userPin }), /has no certificate/);
});
