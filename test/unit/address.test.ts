// One form of a domain for the whole appliance: what the receiving side accepts,
// the report counts, and delivery routes and signs for must agree.
import t from 'tap';
import { domainOf, normalDomain } from '../../src/mail/address.js';

t.test('the domain of an address', async (t) => {
  for (const [address, domain] of [
    ['jane@example.com', 'example.com'],
    ['Jane@Example.ORG', 'example.org'],
    ['a@example.com.', 'example.com'],
    ['Jane@Example.ORG. ', 'example.org'],
    ['"odd@local"@example.net', 'example.net'],
    ['postmaster', ''],
    ['example.com', ''],
    ['', ''],
  ] as const) {
    t.equal(domainOf(address), domain, JSON.stringify(address));
  }
});

t.test('a configured domain is compared in the same form', async (t) => {
  t.equal(normalDomain(' .Sub.Example.COM. '), '.sub.example.com');
  t.equal(normalDomain('example.com'), domainOf('x@EXAMPLE.com.'));
});
