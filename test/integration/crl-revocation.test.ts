// The revocation check the gateway makes after STARTTLS: real TLS handshakes on
// 127.0.0.1 with client certificates from an openssl CA, checked against the
// CRL index, with the global switch and the no-CRL policy.

import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { SMTPServer } from 'smtp-server';
import type { Test } from 'tap';
import t from 'tap';
import { CrlService, type RevocationDecision } from '../../src/mail/crl/crl-service.js';
import { factoryConfig } from '../../src/os/config/factory.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { openRuntime } from '../../src/os/runtime.js';
import { fileServer } from '../helpers/file-server.js';
import { tempState } from '../helpers/state.js';
import { type IssuedCertificate, TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

function newCa(t: Test, commonName = 'DoD Test Root CA 3'): TestCa {
  return new TestCa({ dir: join(tempState(t, 'test-ca-'), 'ca'), commonName, organization: 'U.S. Government' });
}

/** A TLS server that asks for a client certificate and answers each connection with the CRL service's decision. */
async function gateway(t: Test, trusted: TestCa[], crlOf: TestCa) {
  const files = await fileServer(t);
  const root = tempState(t, 'appliance-crl-');
  const runtime = await openRuntime('test', root);
  t.teardown(() => runtime.close());
  const served = join(root, 'served.crl');
  const configWith = (crl: Partial<ApplianceConfig['crl']>) =>
    parseConfig({
      ...factoryConfig('mail.example.com'),
      certificates: { trustStore: trusted.map((ca, i) => ({ name: `ca${i}`, pem: ca.pem })) },
      crl: { enabled: true, sources: [{ name: 'dod', fileType: 'asn1', primaryUrl: files.url(served), schedule: { kind: 'hourly', minute: 0 } }], ...crl },
    });
  const service = new CrlService({ config: configWith({}), stateDir: runtime.paths.crl, alerts: runtime.alerts, logs: runtime.logs, fetchWhenMissing: false });
  service.start();
  t.teardown(() => service.stop());

  const web = crlOf.issue({
    commonName: 'mail.example.com',
    extensions: ['keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth', 'subjectAltName = DNS:mail.example.com'],
  });
  const server = tls.createServer({ key: web.keyPem, cert: web.pem, ca: trusted.map((ca) => ca.pem), requestCert: true, rejectUnauthorized: false }, (socket) => {
    const decision = socket.authorized ? service.check(socket.getPeerCertificate(true)) : { accept: false, message: String(socket.authorizationError) };
    socket.end(JSON.stringify(decision));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;

  const connect = (client: IssuedCertificate) =>
    new Promise<RevocationDecision>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'mail.example.com', key: client.keyPem, cert: client.pem, ca: crlOf.pem });
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk;
      });
      socket.on('end', () => resolve(JSON.parse(answer)));
      socket.on('error', reject);
    });
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  return {
    service,
    connect,
    publish: async (crl: Buffer) => {
      writeFileSync(served, crl);
      return service.fetchNow('dod');
    },
    reconfigure: (crl: Partial<ApplianceConfig['crl']>) => service.reconfigure(configWith(crl)),
    crlLog: () => read(join(root, 'logs', 'crl_logs', 'crl_logs.current')),
  };
}

t.test('after the handshake, revoked and held certificates are refused and good ones pass; lifting a hold needs no restart', async (t) => {
  const ca = newCa(t);
  const [alice, bob, carol, erin] = ['alice', 'bob', 'carol', 'erin'].map((commonName) => ca.issue({ commonName, email: `${commonName}@example.mil` }));
  ca.revoke(alice!, 'keyCompromise');
  ca.revoke(bob!, 'certificateHold');
  ca.revoke(erin!, 'removeFromCRL');
  const { connect, publish } = await gateway(t, [ca], ca);
  t.match(await publish(ca.gencrl()), { entries: 3, lastError: undefined });

  t.match(await connect(alice!), { accept: false, status: 'revoked', reason: 'keyCompromise', serial: alice!.serial, message: /is revoked \(keyCompromise\)/ });
  t.match(await connect(bob!), { accept: false, status: 'revoked', reason: 'certificateHold' }, 'a certificate on hold is refused while listed');
  t.match(await connect(carol!), { accept: true, status: 'good', issuer: 'CN=DoD Test Root CA 3,O=U.S. Government' });
  t.match(await connect(erin!), { accept: true, status: 'good' }, 'removeFromCRL in a full CRL means no longer revoked');

  ca.release(bob!);
  t.match(await publish(ca.gencrl()), { entries: 2, crlNumber: '2' });
  t.match(await connect(bob!), { accept: true, status: 'good' }, 'once the hold is lifted and the new CRL fetched, the same running gateway accepts it');
  t.match(await connect(alice!), { accept: false, status: 'revoked' });
});

/** swaks through STARTTLS with a client certificate, up to RCPT; the transcript. */
function swaks(port: number, client: IssuedCertificate): Promise<string> {
  const args = ['--server', '127.0.0.1', '--port', String(port), '--tls', '--tls-cert', client.certPath, '--tls-key', client.keyPath];
  args.push('--from', 'sender@example.mil', '--to', 'rcpt@example.com', '--quit-after', 'RCPT', '--timeout', '10');
  return new Promise((resolve) => execFile('swaks', args, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`)));
}

t.test('over STARTTLS with swaks: a revoked certificate is refused, and accepted once a new CRL no longer lists it', async (t) => {
  const ca = newCa(t);
  const nina = ca.issue({ commonName: 'nina', email: 'nina@example.mil' });
  const oscar = ca.issue({ commonName: 'oscar' });
  ca.revoke(nina, 'certificateHold');
  const { service, publish } = await gateway(t, [ca], ca);
  await publish(ca.gencrl());
  const web = ca.issue({ commonName: 'mail.example.com', extensions: ['keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth'] });
  const smtp = new SMTPServer({
    key: web.keyPem,
    cert: web.pem,
    ca: [ca.pem],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onSecure(socket, _session, callback) {
      const decision = service.check((socket as tls.TLSSocket).getPeerCertificate(true));
      if (decision.accept) return callback();
      callback(Object.assign(new Error(`5.7.1 Client certificate refused: ${decision.message}`), { responseCode: 554 }));
    },
  });
  // swaks answers a refused session with a TLS alert as it goes; the server reports it as an error event.
  smtp.on('error', () => {});
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => smtp.close(resolve)));
  const { port } = smtp.server.address() as AddressInfo;

  const refused = await swaks(port, nina);
  t.match(
    refused,
    new RegExp(`<~\\* 554 5\\.7\\.1 Client certificate refused: certificate ${nina.serial} from CN=DoD Test Root CA 3,O=U\\.S\\. Government is revoked \\(certificateHold\\)`),
  );
  t.match(await swaks(port, oscar), /<~ {2}250 Accepted/, 'a good certificate gets to RCPT');
  ca.release(nina);
  await publish(ca.gencrl());
  const after = await swaks(port, nina);
  t.match(after, /<~ {2}250 Accepted/, 'after the new CRL, the same server accepts her');
  t.notMatch(after, /554/);
});

t.test('without a CRL for the issuer: reject by default, allow and log when configured, nothing when checking is off', async (t) => {
  const ca = newCa(t);
  const uncovered = newCa(t, 'DoD Email CA 59');
  const user = uncovered.issue({ commonName: 'frank' });
  const { connect, publish, reconfigure, crlLog } = await gateway(t, [ca, uncovered], ca);
  await publish(ca.gencrl());
  t.match(await connect(user), {
    accept: false,
    status: 'no-current-crl',
    message: /no CRL is held for CN=DoD Email CA 59,O=U.S. Government with key id [0-9a-f]+; refused by the no-CRL policy/,
  });
  reconfigure({ whenIssuerHasNoCrl: 'allow-and-log' });
  t.match(await connect(user), { accept: true, status: 'no-current-crl', message: /allowed by the no-CRL policy/ });
  t.match(
    crlLog(),
    new RegExp(`Warning: No current CRL for certificate ${user.serial}: no CRL is held for CN=DoD Email CA 59,O=U.S. Government .*; allowed by policy allow-and-log`),
  );
  reconfigure({ enabled: false, whenIssuerHasNoCrl: 'reject' });
  t.match(await connect(user), { accept: true, message: 'CRL checking is disabled' });
});

t.test("the gateway's RevocationChecker shape: good, revoked with its reason, unknown with why", async (t) => {
  const ca = newCa(t);
  const other = newCa(t, 'DoD Email CA 62');
  const revoked = ca.issue({ commonName: 'judy' });
  ca.revoke(revoked, 'CACompromise');
  const { service, publish } = await gateway(t, [ca, other], ca);
  await publish(ca.gencrl());
  const checker = service.revocationChecker();
  t.same(checker.check(new X509Certificate(revoked.pem)), { status: 'revoked', reason: 'cACompromise' });
  t.same(checker.check(new X509Certificate(ca.issue({ commonName: 'kim' }).pem)), { status: 'good' });
  t.match(checker.check(new X509Certificate(other.issue({ commonName: 'lee' }).pem)), { status: 'unknown', reason: /^no CRL is held for CN=DoD Email CA 62,O=U.S. Government/ });
});

t.test('the issuer is matched by name and key identifier: a same-named CA with another key is not covered', async (t) => {
  const ca = newCa(t);
  const twin = newCa(t); // same subject name, its own key
  const fromTwin = twin.issue({ commonName: 'grace' });
  twin.revoke(fromTwin, 'keyCompromise');
  const fromCa = ca.issue({ commonName: 'heidi' });
  const { service, publish } = await gateway(t, [ca, twin], ca);
  await publish(ca.gencrl());
  t.match(service.check(fromCa.der), { status: 'good' });
  t.match(service.check(fromTwin.der), { status: 'no-current-crl' }, "the first CA's CRL does not vouch for the twin's certificates");
});

t.test("an intermediate CA's CRL covers the certificates it issued; its root's CRL covers the intermediate", async (t) => {
  const root = newCa(t, 'DoD Root CA 6');
  const intermediate = root.intermediate({ commonName: 'DOD ID CA-73', organization: 'U.S. Government' });
  const user = intermediate.issue({ commonName: 'PUBLIC.JOHN.Q.1234567890', subject: '/C=US/O=U.S. Government/OU=DoD/OU=PKI/CN=PUBLIC.JOHN.Q.1234567890' });
  const bystander = intermediate.issue({ commonName: 'PUBLIC.JANE.Q.1234567891' });
  intermediate.revoke(user, 'keyCompromise');
  root.revoke(intermediate.asIssued!, 'CACompromise');
  const { service, publish } = await gateway(t, [root, intermediate], intermediate);
  t.match(await publish(intermediate.gencrl()), { issuer: 'CN=DOD ID CA-73,O=U.S. Government', entries: 1, lastError: undefined });
  t.match(service.check(user.der), { status: 'revoked', issuer: 'CN=DOD ID CA-73,O=U.S. Government', reason: 'keyCompromise' });
  t.match(new X509Certificate(user.pem).subject, 'OU=PKI\nCN=PUBLIC.JOHN.Q.1234567890', 'the whole subject is kept');
  t.match(service.check(bystander.der), { status: 'good' });
  t.match(service.check(intermediate.asIssued!.der), { status: 'no-current-crl' }, "the root's CRL is another CRL, not held yet");
  t.match(await publish(root.gencrl()), { issuer: 'CN=DoD Root CA 6,O=U.S. Government', entries: 1 });
  t.match(service.check(intermediate.asIssued!.der), { status: 'revoked', reason: 'cACompromise' });
  t.match(service.check(user.der), { status: 'revoked', reason: 'keyCompromise' }, "the intermediate's CRL stays held beside the root's");
});

t.test('removing a CRL source from the configuration removes its CRL from the checks', async (t) => {
  const ca = newCa(t);
  const user = ca.issue({ commonName: 'mallory' });
  ca.revoke(user, 'cessationOfOperation');
  const { connect, publish, reconfigure } = await gateway(t, [ca], ca);
  await publish(ca.gencrl());
  t.match(await connect(user), { accept: false, status: 'revoked', reason: 'cessationOfOperation' });
  reconfigure({ sources: [] });
  t.match(await connect(user), { accept: false, status: 'no-current-crl', message: /no CRL is held for CN=DoD Test Root CA 3/ });
});

t.test('a malformed peer certificate is refused with a clear reason, not a crash', async (t) => {
  const ca = newCa(t);
  const { service, publish } = await gateway(t, [ca], ca);
  await publish(ca.gencrl());
  t.match(service.check(Buffer.from('not a certificate')), {
    status: 'unreadable',
    accept: false,
    message: /^the certificate could not be read for the CRL check: Certificate: expected tag 0x30/,
  });
  const good = ca.issue({ commonName: 'ivan' }).der;
  t.match(service.check(good.subarray(0, 60)), { status: 'unreadable', accept: false, message: /truncated/ });
});
