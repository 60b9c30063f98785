// Delivery follows what the gateway decided when it took the message (the
// envelope's reception record), not the configuration of the day it leaves:
// a policy that stops signing after a message was queued does not unsign it,
// and a listener renamed since does not change its Authentication-Results id.
// Only messages queued by an earlier version, without a record, are judged again.
import t from 'tap';
import { authservId, wantsDkim } from '../../src/mail/delivery/outgoing.js';
import { signsWithDkim } from '../../src/mail/mail-flow-policy.js';
import type { Envelope } from '../../src/mail/spool.js';
import { sampleConfig } from '../helpers/configs.js';

const base: Envelope = {
  mid: 1,
  icid: 1,
  listener: 'OutgoingMail',
  mailFrom: 'jane@example.com',
  rcptTo: ['bob@example.org'],
  clientAddress: '10.1.2.3',
  authenticatedAs: { method: 'certificate', identity: 'CN=Jane' },
  receivedAt: '2026-12-04T12:00:00Z',
};

t.test('signing decided at reception', async (t) => {
  const signing = sampleConfig();
  signing.listeners[0]!.policies[1]!.dkimSigning = true;
  const notSigning = sampleConfig();
  const recorded = (dkimSigning: boolean): Envelope => ({ ...base, reception: { senderGroup: 'RELAYLIST', policy: 'RELAYED', dkimSigning, authservId: 'mail.example.com' } });
  const noListeners = { ...notSigning, listeners: [] };
  for (const [what, envelope, config, expected] of [
    ['recorded yes, policy off today', recorded(true), notSigning, true],
    ['recorded no, policy on today', recorded(false), signing, false],
    ['recorded yes, listener deleted since', recorded(true), noListeners, true],
    ['queued by an earlier version, policy on', base, signing, true],
    ['queued by an earlier version, policy off', base, notSigning, false],
    ['queued by an earlier version, not authenticated', { ...base, authenticatedAs: undefined }, signing, false],
  ] as [string, Envelope, typeof signing, boolean][]) {
    t.equal(wantsDkim(envelope, config), expected, what);
  }
});

t.test('the authserv-id recorded at reception', async (t) => {
  const config = sampleConfig();
  t.equal(authservId({ ...base, reception: { senderGroup: 'none', policy: 'DEFAULT', dkimSigning: false, authservId: 'old-name.example.com' } }, config), 'old-name.example.com');
  t.equal(authservId(base, config), 'mail.example.com', 'without a record: the listener of today');
});

t.test('who is signed for', async (t) => {
  for (const [policy, type, authenticated, expected] of [
    [{ dkimSigning: true, connection: 'relay' }, 'public', true, true],
    [{ dkimSigning: true, connection: 'accept' }, 'public', true, false],
    [{ dkimSigning: true, connection: 'accept' }, 'private', true, true],
    [{ dkimSigning: true, connection: 'relay' }, 'private', false, false],
    [{ dkimSigning: false, connection: 'relay' }, 'private', true, false],
  ] as const) {
    t.equal(signsWithDkim(policy, type, authenticated), expected, JSON.stringify([policy, type, authenticated]));
  }
});
