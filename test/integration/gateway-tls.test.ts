// STARTTLS with the listener key in SoftHSM2, client-certificate verification,
// and the TLS rules of mail flow policies, against swaks, openssl s_client and
// raw sockets.
import t, { type Test } from 'tap';
import type { RevocationPolicy } from '../../src/mail/client-certificate.js';
import { fileServer } from '../helpers/file-server.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, run, startGateway, swaks } from '../helpers/gateway.js';

const fixture = await gatewayFixture(t);
const files = await fileServer(t);
const { clientCa, rogueCa, diginotar } = fixture;
const valid = clientCa.issue({ commonName: 'DOE.JOHN.1234567890', email: 'john.doe@example.com' });
const untrusted = rogueCa.issue({ commonName: 'MALLORY.EVE.666' });
const distrusted = diginotar.issue({ commonName: 'VICTIM.1' });
const serverOnly = clientCa.issue({
  commonName: 'SERVER.ONLY',
  extensions: ['basicConstraints = CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth'],
});
const trustStore = [clientCa.trustStoreEntry('client-root'), diginotar.trustStoreEntry('diginotar-root')];

async function verifyingGateway(t: Test, tls: 'preferred' | 'required', options: { trusted?: typeof trustStore; revocation?: RevocationPolicy } = {}) {
  const port = await freePort();
  const started = await startGateway(
    t,
    fixture,
    {
      certificates: { trustStore: options.trusted ?? trustStore, distrusted: [] },
      listeners: listenerConfig(port, {
        policies: [
          {
            name: 'DEFAULT',
            connection: 'accept',
            maxMessageBytes: 100_000,
            maxRecipientsPerMessage: 5,
            maxMessagesPerConnection: 3,
            tls,
            verifyClientCertificate: true,
            smtpAuth: 'off',
          },
        ],
      }),
    },
    options.revocation,
  );
  return { port, ...started };
}

t.test('TLS Preferred + Verify Client Certificate', async (t) => {
  const { port, mailLog } = await verifyingGateway(t, 'preferred');

  const none = await swaks({ port, tls: 'starttls' });
  t.equal(none.code, 0, 'no certificate: the connection is allowed');
  t.match(none.output, /<[-~] +250 2\.0\.0 Ok: queued as \d+/);

  const good = await swaks({ port, tls: 'starttls', cert: valid });
  t.equal(good.code, 0, 'a valid certificate is accepted');
  t.match(mailLog(), /client certificate subject "CN=DOE\.JOHN\.1234567890" issuer "CN=Client Root CA" serial [0-9A-F]+ verdict valid/);

  const rogue = await swaks({ port, tls: 'starttls', cert: untrusted });
  t.not(rogue.code, 0, 'an untrusted certificate is rejected');
  t.match(rogue.output, /554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/);

  const digi = await swaks({ port, tls: 'starttls', cert: distrusted });
  t.match(digi.output, /554 5\.7\.1 Client certificate rejected: .*distrusted \(DigiNotar\)/, 'a DigiNotar chain is refused although its root is in the trust store');

  const wrongUse = await swaks({ port, tls: 'starttls', cert: serverOnly });
  t.match(wrongUse.output, /554 5\.7\.1 Client certificate rejected: the certificate is not meant for client authentication/);

  t.match(mailLog(), /ICID \d+ TLS success protocol TLSv1\.3 cipher TLS_AES_256_GCM_SHA384/, 'TLS protocol and cipher are logged');
  t.match(mailLog(), /client certificate subject "CN=MALLORY\.EVE\.666" verdict rejected: the chain does not reach a trusted CA/, 'the verdict is logged');
});

t.test('TLS Required + Verify Client Certificate needs a valid certificate', async (t) => {
  const { port } = await verifyingGateway(t, 'required');
  const none = await swaks({ port, tls: 'starttls' });
  t.match(none.output, /554 5\.7\.1 A valid client certificate is required/);
  const good = await swaks({ port, tls: 'starttls', cert: valid });
  t.equal(good.code, 0, good.output);
});

t.test('TLS Required: only EHLO, HELO, NOOP, QUIT and STARTTLS before STARTTLS', async (t) => {
  const port = await freePort();
  await startGateway(t, fixture, {
    listeners: listenerConfig(port, {
      policies: [{ name: 'DEFAULT', connection: 'accept', maxMessageBytes: 100_000, maxRecipientsPerMessage: 5, maxMessagesPerConnection: 3, tls: 'required', smtpAuth: 'off' }],
    }),
  });
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  t.match(await smtp.reply(), /^220 mail\.example\.com ESMTP/);
  t.match(await smtp.command('EHLO client.example.com'), /250-STARTTLS/);
  t.match(await smtp.command('NOOP'), /^250 /);
  t.equal(await smtp.command('MAIL FROM:<john.doe@example.com>'), '530 5.7.0 Must issue a STARTTLS command first');
  t.equal(await smtp.command('RSET'), '530 5.7.0 Must issue a STARTTLS command first');
  t.equal(await smtp.command('VRFY john'), '530 5.7.0 Must issue a STARTTLS command first');
  t.match(await smtp.command('STARTTLS'), /^220 /);
  await smtp.startTls();
  t.match(await smtp.command('EHLO client.example.com'), /^250-mail\.example\.com/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^250 /, 'mail flows after STARTTLS');
});

t.test('STARTTLS when the listener key cannot be used gets 454 4.7.0', async (t) => {
  const port = await freePort();
  const { gateway } = await startGateway(t, fixture, { listeners: listenerConfig(port, { certificate: 'no-such-key' }) });
  t.match(gateway.status().join('\n'), /TLS unavailable: certificate "no-such-key" cannot be used/);
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  t.notMatch(await smtp.command('EHLO client.example.com'), /STARTTLS/, 'STARTTLS is not offered');
  t.equal(await smtp.command('STARTTLS'), '454 4.7.0 TLS not available due to temporary reason');
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^250 /, 'mail still flows where the policy allows plain text');
});

t.test('TLS 1.2 and up only, no client-initiated renegotiation', async (t) => {
  const port = await freePort();
  await startGateway(t, fixture, { listeners: listenerConfig(port) });
  const old = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-tls1_1', '-brief'], 'QUIT\r\n');
  t.notMatch(old.output, /Protocol version: TLSv1\.1/, 'TLS 1.1 is refused');
  t.match(old.output, /(alert|error|no protocols available|unsupported protocol)/i);
  const tls12 = await run('sh', ['-c', `(sleep 1; printf 'R\\n'; sleep 2) | openssl s_client -connect 127.0.0.1:${port} -starttls smtp -tls1_2 2>&1`]);
  t.match(tls12.output, /Protocol\s*: TLSv1\.2/, 'TLS 1.2 is accepted');
  t.match(tls12.output, /RENEGOTIATING/);
  t.match(tls12.output, /(no renegotiation|renegotiation failed|handshake failure|alert)/i, 'the renegotiation is refused');
});

t.test('commands pipelined with STARTTLS are discarded and EHLO must come again (RFC 3207)', async (t) => {
  const port = await freePort();
  const { mailLog } = await startGateway(t, fixture, { listeners: listenerConfig(port) });
  const smtp = await RawSmtp.connect(port);
  t.teardown(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example.com');
  smtp.write('STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n');
  t.match(await smtp.reply(), /^220 /);
  await smtp.startTls();
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^503 5\.5\.1 Error: send HELO\/EHLO first/, 'the EHLO state was reset');
  t.match(await smtp.command('EHLO client.example.com'), /^250-/);
  t.match(await smtp.command('MAIL FROM:<john.doe@example.com>'), /^250 /, 'no transaction was left over from the plain-text part');
  t.notMatch(mailLog(), /injected@evil\.example/, 'the injected command never ran');
});

t.test('a revoked certificate is refused through the CRL index; without a current CRL the policy decides', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { CrlService } = await import('../../src/mail/crl/crl-service.js');
  const { parseConfig } = await import('../../src/os/config/validate.js');
  const revoked = clientCa.issue({ commonName: 'REVOKED.USER.42' });
  clientCa.revoke(revoked, 'keyCompromise');
  const crlFile = join(fixture.token.root, 'client-root.crl');
  writeFileSync(crlFile, clientCa.gencrl());
  const config = parseConfig({
    ...fixture.token.runtime.config,
    certificates: { trustStore, distrusted: [] },
    crl: {
      enabled: true,
      whenIssuerHasNoCrl: 'reject',
      sources: [{ name: 'client-root', fileType: 'asn1', primaryUrl: files.url(crlFile), schedule: { kind: 'daily', time: '02:00' } }],
    },
  });
  const crl = new CrlService({ config, stateDir: join(fixture.token.root, 'crl'), alerts: fixture.token.runtime.alerts, logs: fixture.token.runtime.logs });
  t.teardown(() => crl.stop());
  await crl.fetchNow('client-root');
  const revocation = { checker: crl.revocationChecker(), whenUnknown: 'reject' as const };
  const { port } = await verifyingGateway(t, 'preferred', { revocation });
  const refused = await swaks({ port, tls: 'starttls', cert: revoked });
  t.match(refused.output, /554 5\.7\.1 Client certificate rejected: the certificate is revoked \(keyCompromise\)/);
  const good = await swaks({ port, tls: 'starttls', cert: valid });
  t.equal(good.code, 0, 'a certificate the CRL does not list passes');
  const { port: port2 } = await verifyingGateway(t, 'preferred', { trusted: [clientCa.trustStoreEntry('client-root'), rogueCa.trustStoreEntry('rogue')], revocation });
  const noCrl = await swaks({ port: port2, tls: 'starttls', cert: rogueCa.issue({ commonName: 'ROGUE.BUT.TRUSTED' }) });
  t.match(noCrl.output, /554 5\.7\.1 Client certificate rejected: revocation cannot be checked/, 'an issuer without a current CRL is refused under "reject"');
});
