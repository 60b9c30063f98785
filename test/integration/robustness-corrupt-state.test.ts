// Corrupt state: the committed configuration and the newest revision are
// garbage, two spool files have a broken envelope line, the MID counter is
// garbage, and the saved CRL is garbage. The compiled gateway and delivery services must start anyway, set
// each bad file aside where an administrator can find it (nothing is deleted),
// raise an alert for each, and serve: mail flows, the CRL is downloaded again.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { fileServer } from '../helpers/file-server.js';
import { freePort, gatewayFixture, listenerConfig, RawSmtp, swaks } from '../helpers/gateway.js';
import { compiled } from '../helpers/state.js';
import { NextHop, until } from './delivery-fixture.js';

const fixture = await gatewayFixture(t);
const files = await fileServer(t);
const { token, clientCa } = fixture;
const root = token.root;
const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
const systemLog = () => read(join(root, 'logs', 'system_logs', 'system_logs.current'));
const filesIn = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

t.test('a corrupt configuration, spool files, MID counter and saved CRL are set aside and alerted on, and the services start and serve', async (t) => {
  const hop = await NextHop.start(t);
  const port = await freePort();
  const laterPort = await freePort();
  const goodCrl = clientCa.gencrl();
  const crlFile = join(root, 'published.crl');
  writeFileSync(crlFile, goodCrl);

  const base = token.runtime.store.committed();
  const config = (listenerPort: number) => ({
    ...base.config,
    system: { ...base.config.system, hostname: 'mail.example.com', spoolReserveMegabytes: 1 },
    listeners: listenerConfig(listenerPort),
    routes: { ...base.config.routes, defaultRoute: [{ host: '127.0.0.1', port: hop.port, priority: 0 }] },
    alerts: { fromAddress: 'appliance@example.com', recipients: [{ address: 'admin@example.org', severities: ['critical', 'warning', 'information'] }] },
    certificates: { ...base.config.certificates, trustStore: [clientCa.trustStoreEntry('client-root')] },
    crl: {
      ...base.config.crl,
      enabled: true,
      sources: [{ name: 'cac', fileType: 'asn1', primaryUrl: files.url(crlFile), schedule: { kind: 'daily', time: '03:00' } }],
    },
  });
  const good = await token.runtime.store.commit(config(port), { user: 'test', source: 'local', baseRevision: base.meta.revision, comment: 'good' });
  const newest = await token.runtime.store.commit(config(laterPort), { user: 'test', source: 'local', baseRevision: good.revision, comment: 'newest' });

  // The damage, as a torn write or a bad disk would leave it.
  const committedGarbage = 'garbage\u0000{"meta": {"revision"';
  writeFileSync(join(root, 'config', 'committed.json'), committedGarbage);
  const newestPath = join(root, 'config', 'revisions', `${String(newest.revision).padStart(6, '0')}.json`);
  const tornRevision = readFileSync(newestPath, 'utf8').slice(0, 300);
  writeFileSync(newestPath, tornRevision);
  const incoming = join(root, 'spool', 'incoming');
  mkdirSync(incoming, { recursive: true });
  const spoolDamage = {
    '900.msg': '{"mid":900,"icid":7,"listener":"OutgoingMail","mailFrom":"john.doe@exa', // cut off inside the envelope line
    '901.msg': '\u0000\u0001 not an envelope\r\nSubject: lost?\r\n\r\nbody\r\n',
  };
  for (const [file, content] of Object.entries(spoolDamage)) writeFileSync(join(incoming, file), content);
  const waiting = {
    mid: 500,
    icid: 3,
    listener: 'OutgoingMail',
    mailFrom: 'john.doe@example.com',
    rcptTo: ['jane.roe@example.com'],
    clientAddress: '127.0.0.1',
    receivedAt: new Date().toISOString(),
  };
  writeFileSync(join(incoming, '500.msg'), `${JSON.stringify(waiting)}\nSubject: queued before the damage\r\n\r\nstill here\r\n`);
  const counterGarbage = '\u0000\u0000\u0000';
  writeFileSync(join(root, 'spool', 'next-mid'), counterGarbage);
  const crlGarbage = Buffer.from('<html>502 Bad Gateway</html>');
  mkdirSync(join(root, 'crl', 'crls'), { recursive: true });
  writeFileSync(join(root, 'crl', 'crls', 'cac.crl'), crlGarbage);

  const env = { ...token.env, NOTIFY_SOCKET: '', LOG_LEVEL: 'warn' };
  const children: ChildProcess[] = [];
  const start = (service: string) => {
    const child = spawn(process.execPath, [compiled(service)], { env, stdio: 'ignore' });
    children.push(child);
    return child;
  };
  t.teardown(() => {
    for (const child of children) child.kill('SIGTERM');
  });
  const gateway = start('mail/gateway-service.js');
  let greeting = '';
  for (let i = 0; i < 300 && !greeting && gateway.exitCode === null; i++) {
    try {
      const smtp = await RawSmtp.connect(port);
      greeting = await smtp.reply(2000);
      smtp.close();
    } catch {
      await sleep(100);
    }
  }
  t.match(greeting, /^220 mail\.example\.com/, 'the gateway service started and greets, on the port of the revision it fell back to');
  start('mail/delivery-service.js');

  const sent = await swaks({ port, to: 'jane.roe@example.com', extra: ['--header', 'Subject: after the damage'] });
  t.match(sent.output, /<- +250 2\.0\.0 Ok: queued as \d+/, 'mail is accepted');
  const mid = Number(/queued as (\d+)/.exec(sent.output)?.[1]);
  t.ok(mid > 901, `with its MID counter unreadable, the gateway numbers mail above every MID in the spool (${mid}), so no queued message is overwritten`);
  await until('the message is delivered', () => hop.received.some((m) => /Subject: after the damage/.test(m.data)), 20_000).catch(() => {});
  t.ok(
    hop.received.some((m) => /Subject: after the damage/.test(m.data)),
    'and delivered',
  );

  t.test('the configuration', async (t) => {
    const setAside = filesIn(join(root, 'config')).filter((f) => f.startsWith('committed.json.unusable-'));
    t.equal(setAside.length, 1, 'the unusable committed file was set aside');
    t.equal(read(join(root, 'config', setAside[0] ?? 'none')), committedGarbage, 'with its content, for the administrator');
    const revisions = filesIn(join(root, 'config', 'unusable'));
    t.equal(revisions.length, 1, 'the unreadable newest revision was set aside too');
    t.equal(read(join(root, 'config', 'unusable', revisions[0] ?? 'none')), tornRevision, 'with its content');
    t.notOk(existsSync(newestPath), 'and is no longer among the revisions');
    t.match(
      systemLog(),
      new RegExp(
        `Critical: Alert \\(critical, system\\): the committed configuration was unusable and was replaced - .*revision ${newest.revision}.*running revision ${good.revision} \\(good\\)`,
      ),
      'a critical alert names what was set aside and what runs instead',
    );
  });

  t.test('the spool', async (t) => {
    await until('the message queued before is delivered', () => hop.received.some((m) => /Subject: queued before the damage/.test(m.data)), 15_000).catch(() => {});
    t.ok(
      hop.received.some((m) => /Subject: queued before the damage[\s\S]*still here/.test(m.data)),
      'the message queued before the damage is delivered',
    );
    const counters = filesIn(join(root, 'spool')).filter((f) => f.startsWith('next-mid.unusable-'));
    t.equal(counters.length, 1, 'the unreadable MID counter was set aside');
    t.equal(read(join(root, 'spool', counters[0] ?? 'none')), counterGarbage, 'unchanged');
    t.match(systemLog(), /Warning: Alert \(warning, mail\): the MID counter was unreadable and was set aside - moved to \S+; MIDs go on from 902/, 'an alert');
    await until('the broken spool files are set aside', () => filesIn(join(root, 'spool', 'corrupt')).length === 2, 15_000).catch(() => {});
    for (const [file, content] of Object.entries(spoolDamage)) {
      t.equal(read(join(root, 'spool', 'corrupt', file)), content, `${file} is in spool/corrupt, unchanged`);
    }
    t.same(
      ['incoming', 'active', 'deferred'].flatMap((folder) => filesIn(join(root, 'spool', folder)).filter((f) => f in spoolDamage)),
      [],
      'and no longer in the queue',
    );
    t.match(
      systemLog(),
      /Warning: Alert \(warning, mail\): MID 900: a spool file could not be read and was set aside - queue file 900 has no envelope line/,
      'an alert for the cut-off envelope',
    );
    t.match(
      systemLog(),
      /Warning: Alert \(warning, mail\): MID 901: a spool file could not be read and was set aside - queue file 901 has an unreadable envelope/,
      'and one for the garbage',
    );
  });

  t.test('the saved CRL', async (t) => {
    await until('the CRL is downloaded again', () => read(join(root, 'crl', 'crls', 'cac.crl')) === goodCrl.toString('utf8'), 15_000).catch(() => {});
    const corrupt = filesIn(join(root, 'crl', 'corrupt'));
    t.equal(corrupt.length, 1, 'the damaged CRL was set aside in crl/corrupt');
    t.same(readFileSync(join(root, 'crl', 'corrupt', corrupt[0] ?? 'none')), crlGarbage, 'unchanged');
    t.same(readFileSync(join(root, 'crl', 'crls', 'cac.crl')), goodCrl, 'the source was downloaded again at start');
    t.match(systemLog(), /Warning: Alert \(warning, crl\): CRL source cac: the saved CRL does not verify and was set aside - /, 'a warning alert');
  });

  t.test('the administrator gets each alert by mail', async (t) => {
    const subjects = () => hop.received.filter((m) => m.to.includes('admin@example.org')).map((m) => /^Subject: (.*)$/m.exec(m.data)?.[1] ?? '');
    const expected = [
      /the committed configuration was unusable/,
      /the MID counter was unreadable/,
      /MID 900: a spool file could not be read/,
      /MID 901: a spool file could not be read/,
      /CRL source cac: the saved CRL does not verify/,
    ];
    await until('the alert mails arrive', () => expected.every((e) => subjects().some((s) => e.test(s))), 20_000).catch(() => {});
    for (const e of expected)
      t.ok(
        subjects().some((s) => e.test(s)),
        `an alert mail matching ${e}`,
      );
  });
});
