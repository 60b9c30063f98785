// A commit reloads only what it changed: a CRL or LDAP edit leaves every SMTP
// endpoint as it is (an open session goes on untouched), and a commit signals only
// the services that run on the sections it changed.
import t from 'tap';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, startGateway } from '../helpers/gateway.js';
import { pipedConsole, startService } from '../helpers/services.js';

const fixture = await gatewayFixture(t);
const replaced = /Listener Inbound: new settings for new connections/g;

t.test('a CRL source or LDAP edit leaves the listeners untouched; a listener edit replaces its endpoint only for new sessions', async (t) => {
  const port = await freePort();
  const { gateway, config, mailLog } = await startGateway(t, fixture, { listeners: listenerConfig(port, { name: 'Inbound' }) });
  const open = await RawSmtp.connect(port);
  t.match(await open.reply(), /^220 /);
  t.match(await open.command('EHLO client.example.net'), /^250/);
  const before = (mailLog().match(replaced) ?? []).length;

  await gateway.apply({
    ...config,
    crl: { ...config.crl, sources: [{ name: 'dod', fileType: 'asn1', primaryUrl: 'http://127.0.0.1:9/dod.crl', schedule: { kind: 'hourly', minute: 5 } }] },
    ldap: { ...config.ldap, servers: [...config.ldap.servers, { name: 'other', hosts: ['127.0.0.1'], baseDn: 'dc=example,dc=com', serverType: 'openldap', security: 'none' }] },
  } as never);
  t.equal((mailLog().match(replaced) ?? []).length, before, 'no endpoint was rebuilt for a CRL source and an LDAP server');
  t.match(await open.command('MAIL FROM:<a@client.example.net>'), /^250/, 'the open session goes on');

  const [listener] = config.listeners;
  await gateway.apply({ ...config, listeners: [{ ...listener!, hostname: 'renamed.example.com' }] });
  t.equal((mailLog().match(replaced) ?? []).length, before + 1, 'a listener edit replaces its endpoint');
  t.match(await open.command('RCPT TO:<jane.roe@example.com>'), /^250/, 'the session begun before it keeps its settings');
  const fresh = await RawSmtp.connect(port);
  t.match(await fresh.reply(), /^220 renamed\.example\.com/, 'a new session gets the new settings');
  open.close();
  fresh.close();
});

const env = { ...fixture.token.env, APPLIANCE_USER: 'admin', LOG_LEVEL: 'warn' };
const consoleRun = (lines: string[]) => pipedConsole(env, lines);

t.test('a commit tells only the services that run on what it changed', async (t) => {
  await startService(t, t, env, 'system', 'os/system-service.js');
  await startService(t, t, env, 'gateway', 'mail/gateway-service.js');
  await startService(t, t, env, 'delivery', 'mail/delivery-service.js');
  const routes = await consoleRun(['smtproutes new example.net hosts=mx1.example.net:25:1', 'commit route']);
  t.match(routes, /Reloading: (?=.*delivery)(?=.*system)(?!.*gateway).*\n/, `a route reloads delivery, not the gateway: ${routes}`);
  const crl = await consoleRun(['crlconfig source new dod fileType=asn1 primaryUrl=http://127.0.0.1:9/dod.crl schedule=hourly:05', 'commit crl']);
  t.match(crl, /Reloading: (?=.*gateway)(?=.*system)(?!.*delivery).*\n/, `a CRL source reloads the gateway, not delivery: ${crl}`);
  const logs = await consoleRun(['logconfig new extra mail', 'commit log']);
  t.match(logs, /Reloading: (?=.*gateway)(?=.*delivery)(?=.*system).*\n/, 'a log subscription reloads every service (each writes logs)');
});
