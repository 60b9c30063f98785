import t from 'tap';
import { configFromXml, configToXml } from '../../src/os/config/xml.js';
import { sampleConfig } from '../helpers/configs.js';

t.test('save then load gives back exactly the configuration', async (t) => {
  const config = sampleConfig();
  config.certificates.trustStore.push({ name: 'DoD-Root-CA-3', pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' });
  config.listeners[0]!.certificate = 'gateway-2026';
  const xml = configToXml(config, { hostname: 'mail.example.com', revision: 7 });
  t.match(xml, /<config revision="7" hostname="mail.example.com">/);
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
