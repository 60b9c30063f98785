// DKIM signatures made in the HSM (a real SoftHSM2 token) on mail from
// authenticated senders of a relaying listener whose policy signs, checked by
// an independent verifier (mailauth) against the exported DNS record.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import t from 'tap';
import { dkimDnsRecord } from '../../src/mail/delivery/dkim-dns.js';
import { prepareOutgoing } from '../../src/mail/delivery/outgoing.js';
import { QueueStore } from '../../src/mail/delivery/queue-store.js';
import type { ApplianceConfigInput } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { initialisedToken, openHsm } from '../helpers/softhsm.js';
import { deliveryFixture, NextHop, until } from './delivery-fixture.js';

const token = await initialisedToken(t);
const hsm = openHsm(t, token);
const keyLabel = 'dkim.mail2026.example.com';
await hsm.keys.generate({ label: keyLabel, algorithm: 'rsa-2048' });
const record = dkimDnsRecord({ domain: ' example.com ', selector: 'mail2026' }, await hsm.keys.publicKey(keyLabel));
const resolver = async (name: string, type: string) => {
  if (type === 'TXT' && name === record.name) return [[record.value]];
  throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
};

function config(port: number, policy: { dkimSigning: boolean }, canonicalization = 'relaxed/relaxed'): Partial<ApplianceConfigInput> {
  return {
    listeners: [
      {
        name: 'OutgoingMail',
        address: '127.0.0.1',
        port: 2525,
        hostname: 'mail.example.com',
        type: 'private',
        defaultPolicy: 'RELAY',
        policies: [
          {
            name: 'RELAY',
            connection: 'relay',
            maxMessageBytes: 100_000,
            maxRecipientsPerMessage: 5,
            maxMessagesPerConnection: 5,
            tls: 'preferred',
            smtpAuth: 'preferred',
            ...policy,
          },
        ],
      },
    ],
    dkim: { profiles: [{ name: 'example', domain: 'example.com ', selector: 'mail2026', keyLabel, canonicalization } as never] },
    routes: { defaultRoute: [{ host: '127.0.0.1', port }] },
  };
}

// A From header folded over two lines, its display name RFC 2047 encoded (seed 72656).
const content = [
  'From: =?UTF-8?B?Sm9obiBEw7Zl?=',
  ' <john.doe@example.com>',
  'To: jane@example.org',
  'Subject:   Quarterly   report',
  '\tfolded',
  'Date: Sun, 29 Nov 2026 17:00:00 +0000',
  'Message-ID: <dkim1@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain',
  '',
  'Hello Jane,   ',
  '',
  'the \t figures.',
  '',
  '',
].join('\r\n');

const sign = (label: string, data: Buffer) => hsm.keys.sign(label, data);

for (const canonicalization of ['relaxed/relaxed', 'simple/simple']) {
  t.test(`an authenticated sender's mail is signed ${canonicalization} in the HSM and verifies`, async (t) => {
    const hop = await NextHop.start(t);
    const f = await deliveryFixture(t, config(hop.port, { dkimSigning: true }, canonicalization), { sign });
    await f.accept({ rcptTo: ['jane@example.org'], authenticatedAs: { method: 'smtp-auth', identity: 'jdoe' } }, content);
    const [got] = await hop.waitFor(1);
    const data = got?.data ?? '';
    t.match(data, new RegExp(`^DKIM-Signature: v=1; a=rsa-sha256; c=${canonicalization}; d=example\\.com; s=mail2026;`), 'signature on top, domain trimmed');
    t.match(data, /h=from:to:subject:date:message-id:mime-version:content-type;/, 'the configured header list');
    const result = await dkimVerify(Buffer.from(data), { resolver } as never);
    t.equal(result.results[0]?.status.result, 'pass', `mailauth: ${result.results[0]?.status.comment ?? 'pass'}`);
    t.equal(result.results[0]?.signingDomain, 'example.com');
    t.match(f.mailLog(), /MID \d+ DKIM: signed with profile example/);
    const tampered = data.replace('the \t figures.', 'the figures changed.');
    t.equal((await dkimVerify(Buffer.from(tampered), { resolver } as never)).results[0]?.status.result, 'neutral', 'a changed body fails the body hash');
  });
}

t.test('no signature for unauthenticated senders, nor where the policy does not sign', async (t) => {
  const hop = await NextHop.start(t);
  const unsigned = await deliveryFixture(t, config(hop.port, { dkimSigning: false }), { sign });
  await unsigned.accept({ rcptTo: ['jane@example.org'], authenticatedAs: { method: 'smtp-auth', identity: 'jdoe' } }, content);
  const signing = await deliveryFixture(t, config(hop.port, { dkimSigning: true }), { sign });
  await signing.accept({ rcptTo: ['jane@example.org'] }, content);
  const got = await hop.waitFor(2);
  for (const m of got) t.notMatch(m.data, /DKIM-Signature/);
});

t.test('a message the HSM cannot sign waits in the queue instead of leaving unsigned', async (t) => {
  const hop = await NextHop.start(t);
  const input = config(hop.port, { dkimSigning: true });
  const profiles = (input.dkim?.profiles ?? []).map((p) => ({ ...p, keyLabel: 'dkim.no-such-key' }));
  const f = await deliveryFixture(t, { ...input, dkim: { profiles } }, { sign });
  const mid = await f.accept({ rcptTo: ['jane@example.org'], authenticatedAs: { method: 'smtp-auth', identity: 'jdoe' } }, content);
  await until('the attempt is deferred', () => new RegExp(`MID ${mid} deferred`).test(f.mailLog()));
  t.equal(hop.received.length, 0, 'nothing sent');
  t.equal(f.delivery.store.find(mid), 'deferred');
  t.match(f.mailLog(), new RegExp(`MID ${mid} could not be prepared for delivery: .*no-such-key`));
});

// 10,000 signatures take about a minute here: the test makes 3,000 unless DKIM_SIGNATURES says otherwise.
const signatures = Number(process.env.DKIM_SIGNATURES ?? 3000);

t.test(`memory stays flat over ${signatures} signatures (seed 70522)`, async (t) => {
  const spoolDir = join(token.root, 'memory-spool');
  const store = new QueueStore(spoolDir);
  const envelope = {
    mid: 1,
    icid: 1,
    listener: 'OutgoingMail',
    mailFrom: 'john.doe@example.com',
    rcptTo: ['jane@example.org'],
    clientAddress: '127.0.0.1',
    authenticatedAs: { method: 'smtp-auth', identity: 'jdoe' },
    receivedAt: new Date().toISOString(),
  };
  writeFileSync(store.path('active', 1), `${JSON.stringify(envelope)}\n${content}${'A line of the body that is signed.\r\n'.repeat(500)}`);
  const cfg = parseConfig({ system: { hostname: 'mail.example.com' }, ...config(25, { dkimSigning: true }) });
  const signOnce = async () => {
    const outgoing = await prepareOutgoing(store.path('active', 1), await store.read('active', 1), cfg, sign);
    if (!outgoing.signedWith) throw new Error('not signed');
  };
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const measure = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  const warmUp = 1000;
  for (let i = 0; i < warmUp; i++) await signOnce();
  const before = measure();
  for (let i = warmUp; i < signatures; i++) await signOnce();
  const after = measure();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  t.comment(`after ${warmUp} signatures: rss ${mb(before.rss)} MB, heap ${mb(before.heapUsed)} MB; after ${signatures}: rss ${mb(after.rss)} MB, heap ${mb(after.heapUsed)} MB`);
  t.ok(after.heapUsed - before.heapUsed < 8 * 1048576, 'the heap did not grow with the signatures');
  t.ok(after.rss - before.rss < 48 * 1048576, 'nor did the process');
});
