// First boot, the Node part (run as "appliance" by /usr/lib/appliance/bin/firstboot):
// FIPS initialisation with the factory Officer password, the default TLS key and its
// self-signed certificate, the SSH host key, and the default listener. Each step is
// skipped when its result is already there.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const app = process.env.APPLIANCE_APP_DIST ?? '/usr/lib/appliance/app/dist';
const { openRuntime } = await import(`${app}/os/runtime.js`);
const { officerFor, startHsmService } = await import(`${app}/hsm/context.js`);
const { hsmFiles } = await import(`${app}/hsm/files.js`);

/** The factory FIPS Officer password (documented in image/README.md); the Officer must change it. */
export const factoryOfficerPassword = 'Factory-Officer-1';
const say = (text) => console.log(`appliance-firstboot: ${text}`);

const runtime = await openRuntime('firstboot');
const files = hsmFiles(runtime.paths);

if (!existsSync(files.userPin)) {
  say(`FIPS initialisation of token "${runtime.config.hsm.tokenLabel}" with the factory Officer password`);
  officerFor(runtime).initialise(factoryOfficerPassword);
  writeFileSync(files.officerPasswordIsFactory, 'The FIPS Officer password is the factory one; change it.\n', { mode: 0o600 });
}

const hsm = await startHsmService(runtime, 1);
if (hsm.status().state !== 'ready') throw new Error(hsm.statusLine());
const labels = new Set((await hsm.keys.list()).map((k) => k.label));
const hostname = runtime.config.system.hostname;
if (!labels.has('default')) {
  say('generating the default TLS key (RSA 2048) in the HSM and its self-signed certificate');
  await hsm.keys.generate({ label: 'default', algorithm: 'rsa-2048' });
  await hsm.certificates.selfSign('default', { subject: { commonName: hostname, organization: 'Appliance default certificate' }, dnsNames: [hostname], days: 3650 });
}
if (!labels.has('ssh-host')) {
  // RSA-3072: OpenSSH reaches PKCS#11 keys only as RSA or NIST ECDSA, and audits (ssh-audit)
  // fail the NIST curves; Ed25519 is not offered through PKCS#11.
  say('generating the SSH host key (RSA 3072) in the HSM');
  await hsm.keys.generate({ label: 'ssh-host', algorithm: 'rsa-3072' });
}
const pub = await hsm.keys.publicKey('ssh-host');
writeFileSync(join(runtime.paths.root, 'ssh', 'ssh_host_key.pem'), pub.export({ type: 'spki', format: 'pem' }), { mode: 0o640 });
hsm.close();

const committed = runtime.store.committed();
if (committed.config.listeners.length === 0) {
  say('committing the default listener: IncomingMail on port 25, TLS with the HSM key "default"');
  const config = structuredClone(committed.config);
  config.listeners.push({
    name: 'IncomingMail',
    address: '0.0.0.0',
    port: 25,
    hostname,
    type: 'public',
    certificate: 'default',
    acceptedDomains: [hostname, 'example.com'],
    defaultPolicy: 'ACCEPTED',
    policies: [{ name: 'ACCEPTED', connection: 'accept', maxMessageBytes: 20 * 1024 * 1024, maxRecipientsPerMessage: 1000, maxMessagesPerConnection: 1000, tls: 'preferred', verifyClientCertificate: false, smtpAuth: 'off' }],
    hostAccessTable: [{ name: 'ALL', entries: [], policy: 'ACCEPTED' }],
  });
  await runtime.store.commit(config, { user: 'firstboot', source: 'system', comment: 'first boot: default listener', baseRevision: committed.meta.revision });
}
runtime.close();
