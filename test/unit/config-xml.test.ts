import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { applianceConfigSchema } from '../../src/os/config/schema.js';
import { maskSecrets, maskSecretWords, secretNames } from '../../src/os/config/secrets.js';
import { configFromXml, configToXml } from '../../src/os/config/xml.js';
import { sampleConfig } from '../helpers/configs.js';
import { openssl, TestCa } from '../helpers/test-ca.js';

t.test('save then load gives back exactly the configuration', async (t) => {
  const config = sampleConfig();
  config.certificates.trustStore.push({ name: 'DoD-Root-CA-3', pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' });
  config.listeners[0]!.certificate = 'gateway-2026';
  const xml = configToXml(config, { hostname: 'mail.example.com', revision: 7 });
  t.match(xml, /<config revision="7" hostname="mail.example.com" secrets="masked">/);
  t.match(xml, /<port type="number">2587<\/port>/);
  const loaded = configFromXml(xml);
  t.same(loaded.config, config);
  t.same(loaded.ignoredKeyMaterial, [], 'a trusted CA certificate is configuration, not HSM material');
});

t.test('certificate and key material in a loaded file is ignored, and the loader says where', async (t) => {
  const xml = configToXml(sampleConfig(), { hostname: 'h', revision: 1 }).replace(
    '<listeners type="list">',
    `<privateKey>-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----</privateKey>
     <hsmCertificates><item><label>gw</label></item></hsmCertificates>
     <listeners type="list">`,
  );
  const withPemInListener = xml.replace('<type>private</type>', '<certificate>-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----</certificate><type>private</type>');
  const loaded = configFromXml(withPemInListener);
  t.same(loaded.ignoredKeyMaterial.sort(), ['hsmCertificates', 'listeners.0.certificate', 'privateKey']);
  t.equal(loaded.config.listeners[0]!.certificate, undefined, 'the PEM never becomes a listener setting');
  t.notMatch(JSON.stringify(loaded.config), /PRIVATE KEY/);
});

t.test('a malformed or invalid file is refused with its path and reason', async (t) => {
  const good = configToXml(sampleConfig(), { hostname: 'h', revision: 1 });
  t.throws(() => configFromXml(good.replace('</config>', '')), /not well-formed XML/);
  t.throws(() => configFromXml('<?xml version="1.0"?><settings/>'), /no <config> element/);
  t.throws(() => configFromXml(good.replace('<port type="number">2587</port>', '<port type="number">twenty-five</port>')), /listeners\.0\.port: "twenty-five" is not a number/);
  t.throws(
    () => configFromXml(good.replace('<port type="number">2587</port>', '<port type="number">99999</port>')),
    /the file is not a valid configuration:\n\s+- listeners\.0\.port/,
  );
  t.throws(() => configFromXml(`<!DOCTYPE x [<!ENTITY a "aaaa">]>${good}`), /DOCTYPE or ENTITY/);
});

t.test('key material is found after entity decoding, in attributes, split, as base64 DER and as OpenSSH keys', async (t) => {
  const ca = new TestCa({ dir: mkdtempSync(join(tmpdir(), 'xml-ca-')), commonName: 'Key Material CA' });
  t.teardown(() => rmSync(ca.dir, { recursive: true, force: true }));
  const keyPem = readFileSync(ca.keyPath, 'utf8');
  const keyDer = createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' }).toString('base64');
  const rsaDer = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' }).toString('base64');
  const certDer = new X509Certificate(ca.pem).raw.toString('base64');
  const openSsh = openssl(['genpkey', '-algorithm', 'ed25519']).length > 0 ? sshKey() : '';
  const entities = (text: string) => [...text].map((c) => `&#${c.charCodeAt(0)};`).join('');
  const good = configToXml(sampleConfig(), { hostname: 'h', revision: 1 });
  const into = (element: string) => good.replace('<type>private</type>', `${element}<type>private</type>`);
  const cases: [string, string, string][] = [
    ['entity-encoded PEM', into(`<certificate>${entities(keyPem)}</certificate>`), 'listeners.0.certificate'],
    ['hex entities', into(`<certificate>${keyPem.replace(/-/g, '&#x2D;')}</certificate>`), 'listeners.0.certificate'],
    ['PEM in an attribute', into(`<certificate label="${keyPem.replace(/\n/g, '&#10;')}">gw</certificate>`), 'listeners.0.certificate'],
    [
      'a key split into an attribute and the text',
      into(`<certificate part="-----BEGIN PRIVATE">KEY-----\n${keyDer}\n-----END PRIVATE KEY-----</certificate>`),
      'listeners.0.certificate',
    ],
    ['base64 DER of a PKCS#8 key', into(`<certificate>${keyDer}</certificate>`), 'listeners.0.certificate'],
    ['base64 DER of a PKCS#1 key, wrapped', into(`<certificate>${rsaDer.replace(/(.{64})/g, '$1\n')}</certificate>`), 'listeners.0.certificate'],
    ['base64 DER of a certificate', into(`<certificate>${certDer}</certificate>`), 'listeners.0.certificate'],
    ['an OpenSSH private key', into(`<certificate>${openSsh}</certificate>`), 'listeners.0.certificate'],
    ['OpenSSH key body without armour', into(`<certificate>${openSsh.split('\n').slice(1, -2).join('')}</certificate>`), 'listeners.0.certificate'],
    ['CDATA', into(`<certificate><![CDATA[${keyPem}]]></certificate>`), 'listeners.0.certificate'],
    ['a key in a list item', good.replace('<entries type="list">', `<entries type="list"><item>${entities(keyPem)}</item>`), 'listeners.0.hostAccessTable.0.entries.0'],
  ];
  for (const [name, xml, path] of cases) {
    const loaded = configFromXml(xml);
    t.same(loaded.ignoredKeyMaterial, [path], name);
    t.notMatch(JSON.stringify(loaded.config), /PRIVATE|MII|b3BlbnNzaC/, `${name}: nothing of it is loaded`);
  }
  t.throws(
    () => configFromXml(into(`<certificate>-----BEGIN PRIVATE</certificate><note>KEY-----</note>`)),
    /private key split across several values/,
    'a key split across elements refuses the file',
  );
  const trusted = sampleConfig();
  trusted.certificates.trustStore.push({ name: 'ca', pem: ca.pem });
  t.same(configFromXml(configToXml(trusted, { hostname: 'h', revision: 1 })).ignoredKeyMaterial, [], 'a trusted CA certificate is configuration');
  const withKeys = sampleConfig();
  withKeys.users.push({
    name: 'root1',
    fullName: '',
    role: 'admin',
    passwordHash: 'scrypt$1$1$1$a$b',
    sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl root@host'],
  });
  t.same(configFromXml(configToXml(withKeys, { hostname: 'h', revision: 1 }), { current: withKeys }).ignoredKeyMaterial, [], 'an SSH public key is not key material');
});

function sshKey(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    return readFileSync(join(dir, 'id'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('secrets: masked by default, encrypted under a passphrase, never moved between fields', async (t) => {
  const config = sampleConfig();
  config.ldap.servers[0]!.bindPassword = 'S3cret-bind';
  config.ldap.servers.push({ ...config.ldap.servers[0]!, name: 'backup', bindPassword: 'Other-bind' });
  const masked = configToXml(config, { hostname: 'h', revision: 1 });
  t.notMatch(masked, /S3cret-bind|Other-bind/);
  t.throws(() => configFromXml(masked), /masked and this appliance has none to keep at ldap\.servers\.0\.bindPassword, ldap\.servers\.1\.bindPassword/);
  const reordered = structuredClone(config);
  reordered.ldap.servers.reverse();
  t.same(configFromXml(masked, { current: reordered }).config, config, 'a masked secret keeps the value of the item with the same name, not the same place');
  t.throws(
    () => configFromXml(masked.replace('<hostname>mail.example.com</hostname>', '<hostname type="masked"/>'), { current: config }),
    /type="masked" and type="encrypted" are only for secret fields|hostname/,
  );

  const sealed = configToXml(config, { hostname: 'h', revision: 1 }, { mode: 'encrypted', passphrase: 'a long passphrase' });
  t.notMatch(sealed, /S3cret-bind|Other-bind/);
  t.same(configFromXml(sealed, { passphrase: 'a long passphrase' }).config, config);
  t.throws(() => configFromXml(sealed, { passphrase: 'not the passphrase' }), /the passphrase is wrong/);
  t.throws(() => configFromXml(sealed), /give the passphrase/);
  const values = [...sealed.matchAll(/<bindPassword type="encrypted">([^<]+)<\/bindPassword>/g)].map((m) => m[1]!);
  t.equal(values.length, 2);
  const swapped = sealed.replace(values[0]!, 'PLACEHOLDER').replace(values[1]!, values[0]!).replace('PLACEHOLDER', values[1]!);
  t.throws(() => configFromXml(swapped, { passphrase: 'a long passphrase' }), /does not decrypt \(the file was changed\)/, 'a sealed value moved to another field is refused');
});

t.test('the schema marks every field named like a secret, and masking covers them all', async (t) => {
  const names: string[] = [];
  const visit = (schema: unknown, key: string) => {
    let s = schema as { _zod: { def: Record<string, unknown> & { type: string } }; shape?: Record<string, unknown> };
    while (['optional', 'default', 'prefault', 'nullable', 'readonly'].includes(s._zod.def.type)) s = s._zod.def.innerType as typeof s;
    if (s._zod.def.type === 'object') for (const [k, child] of Object.entries(s.shape ?? {})) visit(child, k);
    else if (s._zod.def.type === 'array') visit(s._zod.def.element, key);
    else if (s._zod.def.type === 'union') for (const option of s._zod.def.options as unknown[]) visit(option, key);
    else if (/password|passwd|secret|passphrase|credential|^pin$|hash$/i.test(key)) names.push(key);
  };
  visit(applianceConfigSchema, '');
  // Named like secrets but not one: a length rule, and the name of an LDAP attribute.
  const notSecrets = ['officerPasswordMinLength', 'passwordAttribute'];
  names.splice(0, names.length, ...names.filter((n) => !notSecrets.includes(n)));
  t.ok(names.length >= 2, `secret-like fields: ${names.join(', ')}`);
  for (const name of names) t.ok(secretNames.has(name), `${name} is marked secret in schema.ts`);
  const config = sampleConfig();
  config.ldap.servers[0]!.bindPassword = 'Bind-1';
  config.users.push({ name: 'root1', fullName: '', role: 'admin', passwordHash: 'scrypt$x', sshPublicKeys: [] });
  const shown = JSON.stringify(maskSecrets(config));
  t.notMatch(shown, /Bind-1|scrypt\$x/);
  t.equal(maskSecretWords('ldapconfig server edit corp bindPassword=Bind-1 port=389 passwordHash=x'), 'ldapconfig server edit corp bindPassword=***** port=389 passwordHash=*****');
});
