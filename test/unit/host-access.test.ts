import t from 'tap';
import { HostAccessTable, verifiedReverseName } from '../../src/mail/host-access.js';
import { resolvePolicy } from '../../src/mail/mail-flow-policy.js';
import { parseConfig } from '../../src/os/config/validate.js';
import { sampleConfig } from '../helpers/configs.js';

const table = new HostAccessTable({
  hostAccessTable: [
    { name: 'BLOCKLIST', entries: ['192.0.2.66', '2001:db8::/32'], policy: 'BLOCKED' },
    { name: 'RELAYLIST', entries: ['10.0.0.0/8', '198.51.100.10-198.51.100.20'], policy: 'RELAYED' },
    { name: 'ALLOWLIST', entries: ['.partner.example', 'mx.friend.example'], policy: 'TRUSTED' },
    { name: 'SUSPECTLIST', entries: ['10.9.9.9'], policy: 'THROTTLED' },
    { name: 'ALL', entries: [], policy: 'ACCEPTED' },
  ],
});

t.test('sender groups: IP, CIDR, range, names; the first match wins', async (t) => {
  t.same(table.match('192.0.2.66'), { group: 'BLOCKLIST', policy: 'BLOCKED' });
  t.same(table.match('::ffff:10.1.2.3'), { group: 'RELAYLIST', policy: 'RELAYED' }, 'IPv4-mapped addresses match IPv4 entries');
  t.same(table.match('10.9.9.9'), { group: 'RELAYLIST', policy: 'RELAYED' }, 'an earlier group wins over a later exact entry');
  t.same(table.match('198.51.100.15'), { group: 'RELAYLIST', policy: 'RELAYED' });
  t.same(table.match('198.51.100.21'), { group: 'ALL', policy: 'ACCEPTED' }, 'just past the range');
  t.same(table.match('2001:db8::1'), { group: 'BLOCKLIST', policy: 'BLOCKED' });
  t.same(table.match('203.0.113.5', 'smtp.partner.example'), { group: 'ALLOWLIST', policy: 'TRUSTED' }, 'a .domain entry matches a verified name below it');
  t.same(table.match('203.0.113.5', 'evilpartner.example'), { group: 'ALL', policy: 'ACCEPTED' }, 'but not a name that merely ends the same way');
  t.same(table.match('203.0.113.5'), { group: 'ALL', policy: 'ACCEPTED' }, 'no name, no name match');
  t.ok(table.matchesByName);
});

t.test('a name counts only when the reverse lookup leads back to the address', async (t) => {
  const resolver = {
    reverse: async (ip: string) => (ip === '203.0.113.5' ? ['mx.partner.example.'] : ['liar.partner.example']),
    lookup: async (name: string) => [{ address: name === 'mx.partner.example.' ? '203.0.113.5' : '192.0.2.1', family: 4 }],
  } as unknown as Parameters<typeof verifiedReverseName>[1];
  t.equal(await verifiedReverseName('203.0.113.5', resolver), 'mx.partner.example');
  t.equal(await verifiedReverseName('203.0.113.9', resolver), undefined, 'a PTR whose name points elsewhere is not verified');
});

t.test('a bad entry is refused at commit with its path', async (t) => {
  const config = sampleConfig();
  config.listeners[0]!.hostAccessTable[0]!.entries.push('10.0.0.0/33', 'not a host!');
  t.throws(() => parseConfig(config), /listeners\.0\.hostAccessTable\.0\.entries\.1: must be an IP, CIDR[\s\S]*entries\.2: must be an IP/);
});

t.test('policy fields left to "use default" come from the default policy; Verify Client Certificate stands on its own (seed 85006)', async (t) => {
  const listener = sampleConfig().listeners[0]!;
  const relayed = resolvePolicy(listener, 'RELAYED');
  t.match(relayed, {
    name: 'RELAYED',
    connection: 'relay',
    tls: 'preferred',
    verifyClientCertificate: true,
    smtpAuth: 'required',
    requireTlsForSmtpAuth: true,
    maxMessageBytes: 10485760,
  });
  t.equal(resolvePolicy(listener, 'DEFAULT').verifyClientCertificate, false);
  t.equal(resolvePolicy(listener, 'NO_SUCH').name, 'DEFAULT', 'an unknown policy name falls back to the default');
});
