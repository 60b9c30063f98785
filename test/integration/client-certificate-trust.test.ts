// Which CAs a client certificate may come from, over real TLS (issue 15.3, 15.4):
// only the listener's client-certificate CAs, never the system bundle the process
// trusts for outgoing TLS; the CertificateRequest names exactly those CAs; and the
// chain limit (8 intermediates) with the distrust list on every certificate of
// the chain, whatever its length, order or gaps.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getCACertificates } from 'node:tls';
import t, { type Test } from 'tap';
import type { ApplianceConfigInput } from '../../src/os/config/schema.js';
import { sampleConfig } from '../helpers/configs.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, run, startGateway, swaks } from '../helpers/gateway.js';
import { type IssuedCertificate, TestCa } from '../helpers/test-ca.js';

process.env.LOG_LEVEL ??= 'silent';

const fixture = await gatewayFixture(t);
const { clientCa, rogueCa, token } = fixture;
const pki = join(token.root, 'pki');

// A CA the process trusts through the system bundle (what delivery and LDAP use), and that no listener names.
const bundleCa = new TestCa({ dir: join(pki, 'bundle-ca'), commonName: 'Public Bundle CA' });
const bundleFile = join(pki, 'system-bundle.pem');
writeFileSync(bundleFile, bundleCa.pem);
process.env.SSL_CERT_FILE = bundleFile; // read by OpenSSL when Node first loads the system store

const valid = clientCa.issue({ commonName: 'DOE.JOHN.1234567890' });
const fromBundle = bundleCa.issue({ commonName: 'PUBLIC.CA.USER' });
const fromRogue = rogueCa.issue({ commonName: 'ROGUE.USER' });

type Trust = { trustStore: { name: string; pem: string }[]; distrusted?: { name: string; sha256: string; reason?: string }[] };

async function verifyingGateway(
  t: Test,
  certificates: Trust,
  listener: Partial<NonNullable<ApplianceConfigInput['listeners']>[number]> = {},
  more: Partial<ApplianceConfigInput> = {},
) {
  const port = await freePort();
  const started = await startGateway(t, fixture, {
    ...more,
    certificates: { distrusted: [], ...certificates },
    listeners: listenerConfig(port, {
      ...listener,
      policies: [
        {
          name: 'DEFAULT',
          connection: 'accept',
          maxMessageBytes: 100_000,
          maxRecipientsPerMessage: 5,
          maxMessagesPerConnection: 3,
          tls: 'preferred',
          verifyClientCertificate: true,
          smtpAuth: 'off',
        },
      ],
    } as never),
  });
  return { port, ...started };
}

/** STARTTLS with a certificate and the chain the client sends after it; the first reply after the handshake. */
async function present(port: number, certificate: IssuedCertificate, sentChain = ''): Promise<string> {
  const smtp = await RawSmtp.connect(port);
  try {
    await smtp.reply();
    await smtp.command('EHLO client.example.com');
    await smtp.command('STARTTLS');
    await smtp.startTls({ cert: certificate.pem + sentChain, key: certificate.keyPem });
    return await smtp.command('EHLO client.example.com');
  } finally {
    smtp.close();
  }
}

/** What openssl s_client says of the server's CertificateRequest: the CA names it lists and the message's length. */
async function certificateRequest(port: number): Promise<{ names: string[]; length: number }> {
  const result = await run('sh', ['-c', `(sleep 1; printf 'QUIT\\r\\n') | openssl s_client -connect 127.0.0.1:${port} -starttls smtp -tls1_3 -msg 2>&1`]);
  const block = /Acceptable client certificate CA names\n([\s\S]*?)\n(?:Requested Signature|Client Certificate Types|Shared Requested|---)/.exec(result.output);
  const names = block ? block[1]!.split('\n').filter((l) => l.trim() !== '') : [];
  const length = /<<< TLS 1\.3, Handshake \[length ([0-9a-f]+)\], CertificateRequest/.exec(result.output);
  if (!length) throw new Error(`no CertificateRequest in:\n${result.output}`);
  return { names, length: Number.parseInt(length[1]!, 16) };
}

t.test('the system bundle holds the test CA: the refusal below is not for want of trust in the process', async (t) => {
  t.ok(
    getCACertificates('system').some((pem) => pem.replace(/\s/g, '') === bundleCa.pem.replace(/\s/g, '')),
    'getCACertificates("system"), the bundle outgoing TLS trusts, holds the Public Bundle CA',
  );
});

t.test('a client certificate from a CA of the system bundle is refused; one from a configured CA is accepted', async (t) => {
  const { port, mailLog } = await verifyingGateway(t, { trustStore: [clientCa.trustStoreEntry('client-root')] });
  t.match(await present(port, fromBundle), /^554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/);
  t.match(await present(port, valid), /^250-mail\.example\.com/, 'the configured CA’s certificate is accepted');
  const swaksBundle = await swaks({ port, tls: 'starttls', cert: fromBundle });
  t.match(swaksBundle.output, /554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/, 'swaks too');
  t.match(mailLog(), /client certificate subject "CN=PUBLIC\.CA\.USER" verdict rejected/);

  const request = await certificateRequest(port);
  t.same(request.names, ['CN = Client Root CA'], 'the CertificateRequest names exactly the configured CA');
  t.ok(request.length < 200, `the CertificateRequest is small (${request.length} bytes)`);
});

t.test('a listener narrows the trust store; unset it takes every CA of the trust store, an empty list none', async (t) => {
  const trustStore = [clientCa.trustStoreEntry('client-root'), rogueCa.trustStoreEntry('partner-ca')];
  const narrowed = await verifyingGateway(t, { trustStore }, { clientCertificateAuthorities: ['client-root'] });
  t.match(
    await present(narrowed.port, fromRogue),
    /^554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/,
    'a trust-store CA the listener does not name is refused',
  );
  t.match(await present(narrowed.port, valid), /^250-/);
  t.same((await certificateRequest(narrowed.port)).names, ['CN = Client Root CA']);

  const whole = await verifyingGateway(t, { trustStore });
  t.match(await present(whole.port, fromRogue), /^250-/, 'unset: every trust-store CA');
  t.same((await certificateRequest(whole.port)).names.sort(), ['CN = Client Root CA', 'CN = Rogue CA']);

  const none = await verifyingGateway(t, { trustStore }, { clientCertificateAuthorities: [] });
  t.match(await present(none.port, valid), /^554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/, 'an empty list trusts nothing');
  t.match(await present(none.port, fromBundle), /^554 5\.7\.1 /, 'and does not fall back to a bundle');
  t.same((await certificateRequest(none.port)).names, [], 'and lists no CA');
  t.match(none.mailLog(), /Warning: listener OutgoingMail checks client certificates but trusts no CA for them: every certificate is refused; add one with certconfig trust/);
});

t.test('a certificate profile narrows the CAs of the listener that uses it', async (t) => {
  const trustStore = [clientCa.trustStoreEntry('client-root'), rogueCa.trustStoreEntry('partner-ca')];
  const seed = sampleConfig();
  const { port } = await verifyingGateway(
    t,
    { trustStore },
    { smtpAuthProfile: 'cac-auth' },
    {
      ldap: seed.ldap,
      smtpAuth: { profiles: [{ name: 'cac-auth', type: 'certificate', certificateQuery: 'cac', certificateAuthorities: ['client-root'] }] },
    },
  );
  t.match(
    await present(port, fromRogue),
    /^554 5\.7\.1 Client certificate rejected: the chain does not reach a trusted CA/,
    'a trust-store CA outside the profile’s list is refused',
  );
  t.match(await present(port, valid), /^250-/);
  t.same((await certificateRequest(port)).names, ['CN = Client Root CA'], 'and is not offered in the CertificateRequest');
});

/** A root with `depth` intermediates in a line under it; the chain a client sends for a leaf under intermediate k (nearest first, no root). */
function ladder(name: string, depth: number) {
  const root = new TestCa({ dir: join(pki, name), commonName: `${name} Root` });
  const intermediates: TestCa[] = [];
  for (let i = 1; i <= depth; i++) intermediates.push((intermediates.at(-1) ?? root).intermediate({ commonName: `${name} Intermediate ${i}` }));
  const leafUnder = (k: number) => ({
    leaf: intermediates[k - 1]!.issue({ commonName: `${name.toUpperCase()}.USER.${k}` }),
    chain: intermediates
      .slice(0, k)
      .reverse()
      .map((ca) => ca.pem)
      .join(''),
  });
  return { root, intermediates, leafUnder };
}

t.test('at most 8 intermediates, under a trusted root and under a distrusted one', async (t) => {
  const good = ladder('deep', 12);
  const bad = ladder('banned', 10);
  const badFingerprint = new X509Certificate(bad.root.pem).fingerprint256;
  const { port, mailLog } = await verifyingGateway(t, {
    trustStore: [good.root.trustStoreEntry('deep-root'), bad.root.trustStoreEntry('banned-root')],
    distrusted: [{ name: 'banned-root', sha256: badFingerprint, reason: 'compromised' }],
  });
  for (const k of [7, 8]) {
    const { leaf, chain } = good.leafUnder(k);
    t.match(await present(port, leaf, chain), /^250-/, `${k} intermediates under a trusted root: accepted`);
    const banned = bad.leafUnder(k);
    t.match(
      await present(port, banned.leaf, banned.chain),
      /^554 5\.7\.1 Client certificate rejected: its issuer CN=banned Root is distrusted \(banned-root\): compromised/,
      `${k} intermediates under a distrusted root: refused, the root named`,
    );
  }
  for (const k of [9, 10, 12]) {
    const { leaf, chain } = good.leafUnder(k);
    t.match(await present(port, leaf, chain), /^554 5\.7\.1 Client certificate rejected: the chain has more than 8 intermediate CAs/, `${k} intermediates: refused`);
  }
  for (const k of [9, 10]) {
    const banned = bad.leafUnder(k);
    t.match(await present(port, banned.leaf, banned.chain), /^554 5\.7\.1 Client certificate rejected: /, `${k} intermediates under the distrusted root: refused`);
  }
  t.notMatch(mailLog(), /BANNED\.USER\.\d+" issuer .* verdict valid/, 'no certificate under the distrusted root was ever valid');

  const cut = good.leafUnder(7);
  const withoutFourth = good.intermediates
    .slice(0, 7)
    .filter((_, i) => i !== 3)
    .reverse()
    .map((ca) => ca.pem)
    .join('');
  t.match(await present(port, cut.leaf, withoutFourth), /^554 5\.7\.1 Client certificate rejected: /, 'a chain with a gap is refused');
  // Node links the peer's certificates in issuer order but stops early on some orders (an issuer found last in
  // what is left); the walk then cannot reach the root, and refuses rather than judge the part it sees.
  const reversed = good.intermediates
    .slice(0, 7)
    .map((ca) => ca.pem)
    .join('');
  t.match(
    await present(port, cut.leaf, reversed),
    /^554 5\.7\.1 Client certificate rejected: the chain is incomplete/,
    'a chain sent root-most first is refused, not accepted unchecked',
  );
  const bannedReversed = bad.leafUnder(7);
  t.match(
    await present(
      port,
      bannedReversed.leaf,
      bad.intermediates
        .slice(0, 7)
        .map((ca) => ca.pem)
        .join(''),
    ),
    /^554 5\.7\.1 /,
    'so is one under the distrusted root',
  );
});

t.test('a distrusted intermediate in the middle of an accepted-length chain', async (t) => {
  const line = ladder('middle', 6);
  const fourth = new X509Certificate(line.intermediates[3]!.pem).fingerprint256;
  const { port } = await verifyingGateway(t, {
    trustStore: [line.root.trustStoreEntry('middle-root')],
    distrusted: [{ name: 'rogue-subordinate', sha256: fourth }],
  });
  const { leaf, chain } = line.leafUnder(6);
  t.match(
    await present(port, leaf, chain),
    /^554 5\.7\.1 Client certificate rejected: its issuer CN=middle Intermediate 4 is distrusted \(rogue-subordinate\): distrusted by the administrator/,
  );
  const above = line.leafUnder(3);
  t.match(await present(port, above.leaf, above.chain), /^250-/, 'a leaf under the third intermediate, above the distrusted one, is accepted');
});
