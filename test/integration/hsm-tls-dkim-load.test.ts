import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { dkimSign, generateDkimKey } from '../../src/hsm/dkim.js';
import { tlsOptionsFor } from '../../src/hsm/tls-options.js';
import { initialisedToken, openHsm, sClient } from '../helpers/softhsm.js';

t.test('TLS handshakes and DKIM signatures run together in one process without a failure', async (t) => {
  const token = await initialisedToken(t);
  const { keys, certificates } = openHsm(t, token);
  await keys.generate({ label: 'mail-rsa', algorithm: 'rsa-2048' });
  await certificates.selfSign('mail-rsa', { subject: { commonName: 'mail.example.com' }, days: 2 });
  const selector = { domain: 'example.com', selector: 'busy' };
  await generateDkimKey(keys, selector);
  const caFile = `${token.root}/self.pem`;
  writeFileSync(caFile, await certificates.exportPem('mail-rsa'));
  const server = tls.createServer(await tlsOptionsFor(certificates, 'mail-rsa', { tokenLabel: token.hsm.tokenLabel, pinFile: token.files.userPin }), (socket) =>
    socket.end('220 ok\r\n'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const message = Buffer.from('From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n');
  const [handshakes, signatures] = await Promise.all([
    Promise.all(Array.from({ length: 12 }, () => sClient(port, caFile))),
    Promise.allSettled(Array.from({ length: 100 }, () => dkimSign(keys, selector, message))),
  ]);
  t.equal(handshakes.filter((o) => /Verification: OK[\s\S]*220 ok/.test(o)).length, 12, 'every handshake completed with the HSM key');
  t.equal(signatures.filter((s) => s.status === 'fulfilled').length, 100, 'every DKIM signature was made');
});
