import t from 'tap';
import { deleteObject, referencesTo, renameObject } from '../../src/os/config/references.js';
import { ConfigError, parseConfig } from '../../src/os/config/validate.js';
import { configProblems } from '../../src/os/config/verify.js';
import { sampleConfig } from '../helpers/configs.js';

function problemsOf(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

t.test('errors name the path and the reason', async (t) => {
  const config = sampleConfig() as unknown as { listeners: { port: number; hostname: string }[] };
  config.listeners[0]!.port = 70000;
  config.listeners[0]!.hostname = 'not a host!';
  const problems = problemsOf(config);
  t.ok(
    problems.some((p) => p.startsWith('listeners.0.port:') && /65535/.test(p)),
    `port problem named: ${problems}`,
  );
  t.ok(
    problems.some((p) => p.startsWith('listeners.0.hostname:') && /host name/.test(p)),
    'hostname problem named',
  );
});

t.test('an unknown key is an error, not silently ignored', async (t) => {
  const config = { ...sampleConfig(), sytem: {} };
  t.match(problemsOf(config).join('\n'), /sytem/);
});

t.test('the default mail flow policy must be complete; others may use defaults', async (t) => {
  const config = sampleConfig();
  delete config.listeners[0]!.policies[0]!.tls;
  t.match(problemsOf(config).join('\n'), /listeners\.0\.policies\.0\.tls: the default policy "DEFAULT" must set tls/);
  const ok = sampleConfig();
  t.equal(ok.listeners[0]!.policies[1]!.tls, undefined, 'RELAYED uses the default TLS setting');
  t.equal(ok.listeners[0]!.policies[1]!.verifyClientCertificate, true, 'yet verifies client certificates (seed 85006)');
});

t.test('a profile must use a query of the right type (checked at commit)', async (t) => {
  const config = sampleConfig();
  const ldapProfile = config.smtpAuth.profiles[0]!;
  if (ldapProfile.type === 'ldap') ldapProfile.query = 'cac';
  t.match(configProblems(parseConfig(config)).join('\n'), /smtpAuth\.profiles\.0\.query: "cac" is a certificate query/);
});

t.test('an SMTP route host must be a host name or an address', async (t) => {
  for (const host of ['bad host name', 'mx_1.example.com', 'a..b', '']) {
    const config = sampleConfig();
    config.routes.smtpRoutes = [{ domain: 'example.net', hosts: [{ host, port: 25, priority: 1 }], tls: 'opportunistic' }];
    t.match(problemsOf(config).join('\n'), /routes\.smtpRoutes\.0\.hosts\.0\.host/, `"${host}" is refused`);
  }
  for (const host of ['mx1.example.net', '192.0.2.7', '2001:db8::25']) {
    const config = sampleConfig();
    config.routes.smtpRoutes = [{ domain: 'example.net', hosts: [{ host, port: 25, priority: 1 }], tls: 'opportunistic' }];
    t.same(problemsOf(config), [], `"${host}" is accepted`);
  }
});

t.test('renaming follows every reference', async (t) => {
  const config = sampleConfig();
  const updated = renameObject(config, 'ldap-server', 'corp', 'directory');
  t.same(updated, ['LDAP query "cac"', 'LDAP query "auth"']);
  t.ok(config.ldap.queries.every((q) => q.server === 'directory'));

  renameObject(config, 'smtp-auth-profile', 'ldap-auth', 'ldap-users');
  const cacProfile = config.smtpAuth.profiles[1]!;
  t.equal(cacProfile.type === 'certificate' && cacProfile.fallbackProfile, 'ldap-users', 'fallback profile follows the rename');

  renameObject(config, 'smtp-auth-profile', 'cac-auth', 'cac-users');
  t.equal(config.listeners[0]!.smtpAuthProfile, 'cac-users', 'the listener follows the rename');

  renameObject(config, 'mail-flow-policy', 'RELAYED', 'RELAY_CAC', 'OutgoingMail');
  t.equal(config.listeners[0]!.hostAccessTable[0]!.policy, 'RELAY_CAC', 'the sender group follows the policy rename');
  t.doesNotThrow(() => parseConfig(config), 'the renamed configuration is valid');
  t.throws(() => renameObject(config, 'ldap-query', 'cac', 'auth'), /already exists/);
  t.throws(() => renameObject(config, 'ldap-query', 'nope', 'x'), /no LDAP query named "nope"/);
});

t.test('deleting something still referenced is refused, naming who refers to it', async (t) => {
  const config = sampleConfig();
  t.throws(() => deleteObject(config, 'ldap-query', 'auth'), /cannot delete LDAP query "auth": it is used by SMTP authentication profile "ldap-auth"/);
  t.equal(config.ldap.queries.length, 2, 'nothing was deleted');
  t.same(referencesTo(config, 'smtp-auth-profile', 'ldap-auth'), ['SMTP authentication profile "cac-auth" (fallback)']);
  config.listeners[0]!.smtpAuthProfile = undefined;
  deleteObject(config, 'smtp-auth-profile', 'cac-auth');
  deleteObject(config, 'smtp-auth-profile', 'ldap-auth');
  deleteObject(config, 'ldap-query', 'auth');
  t.equal(config.ldap.queries.length, 1);
});

t.test('a dangling reference made by hand is caught at validation', async (t) => {
  const config = sampleConfig();
  config.listeners[0]!.smtpAuthProfile = 'gone';
  t.match(problemsOf(config).join('\n'), /listener "OutgoingMail" \(smtpAuthProfile\): refers to SMTP authentication profile "gone", which does not exist/);
  const dup = sampleConfig();
  dup.ldap.servers.push({ ...dup.ldap.servers[0]! });
  t.match(problemsOf(dup).join('\n'), /ldap\.servers\.1\.name: another LDAP server profile is already named "corp"/);
});
