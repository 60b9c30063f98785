// MAIL FROM and RCPT TO verdicts as tables, without a network (as Postfix's smtpd_check tests).
import t from 'tap';
import { isAcceptedDomain, recipientVerdict, senderVerdict } from '../../src/mail/envelope-policy.js';
import type { EffectivePolicy } from '../../src/mail/mail-flow-policy.js';

const policy = (overrides: Partial<EffectivePolicy>) =>
  ({ name: 'P', connection: 'accept', maxMessageBytes: 1000, maxRecipientsPerMessage: 2, maxMessagesPerConnection: 3, smtpAuth: 'off', ...overrides }) as EffectivePolicy;

t.test('sender verdicts', async (t) => {
  const facts = { messages: 0, authenticated: false, authUnavailable: false, declaredBytes: 0 };
  const table: [Partial<EffectivePolicy>, Partial<typeof facts>, string][] = [
    [{}, {}, 'accept'],
    [{}, { messages: 3 }, 'too-many-messages'],
    [{ smtpAuth: 'required' }, {}, 'auth-required'],
    [{ smtpAuth: 'required' }, { authUnavailable: true }, 'auth-unavailable'],
    [{ smtpAuth: 'required' }, { authenticated: true }, 'accept'],
    [{ smtpAuth: 'preferred' as EffectivePolicy['smtpAuth'] }, {}, 'accept'],
    [{}, { declaredBytes: 1001 }, 'too-large'],
    [{}, { declaredBytes: 1000 }, 'accept'],
    [{ smtpAuth: 'required' }, { messages: 3 }, 'too-many-messages'],
  ];
  for (const [p, f, expected] of table) t.equal(senderVerdict(policy(p), { ...facts, ...f }), expected, `${JSON.stringify(p)} ${JSON.stringify(f)}`);
});

t.test('recipient verdicts', async (t) => {
  const facts = { recipients: 0, authenticated: false, address: 'jane@example.com', acceptedDomains: ['example.com', '.sub.example.org'] };
  const table: [Partial<EffectivePolicy>, Partial<typeof facts>, string][] = [
    [{}, {}, 'accept'],
    [{}, { address: 'JANE@EXAMPLE.COM' }, 'accept'],
    [{}, { address: 'a@mail.sub.example.org' }, 'accept'],
    [{}, { address: 'a@sub.example.org' }, 'relay-denied'],
    [{}, { address: 'a@example.com.evil' }, 'relay-denied'],
    [{}, { address: 'a@example.com.' }, 'accept'],
    [{}, { address: 'a@Mail.Sub.Example.Org.' }, 'accept'],
    [{}, { address: 'example.com' }, 'relay-denied'],
    [{}, { address: 'a@elsewhere.example.net' }, 'relay-denied'],
    [{ connection: 'relay' }, { address: 'a@elsewhere.example.net' }, 'accept'],
    [{ smtpAuth: 'required' }, { address: 'a@elsewhere.example.net' }, 'auth-required'],
    [{ smtpAuth: 'required' }, { address: 'a@elsewhere.example.net', authenticated: true }, 'accept'],
    [{}, { recipients: 2 }, 'too-many-recipients'],
    [{ connection: 'relay' }, { recipients: 2 }, 'too-many-recipients'],
  ];
  for (const [p, f, expected] of table) t.equal(recipientVerdict(policy(p), { ...facts, ...f }), expected, `${JSON.stringify(p)} ${JSON.stringify(f)}`);
  t.notOk(isAcceptedDomain('example.com', []), 'no accepted domains: nothing is local');
});
