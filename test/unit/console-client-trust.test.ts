// A listener's client-certificate CAs at the console: names of trust-store CAs
// (certconfig trust), checked when set, followed by a rename, and guarding the
// CA against a delete while a listener names it.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { compiled, tempState } from '../helpers/state.js';

t.test('listenerconfig … clientCertificateAuthorities= names trust-store CAs', async (t) => {
  const root = tempState(t);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(root, 'k.pem'),
      '-out',
      join(root, 'c.pem'),
      '-subj',
      '/CN=Site CA',
      '-days',
      '2',
    ],
    {
      stdio: 'ignore',
    },
  );
  const pem = readFileSync(join(root, 'c.pem'), 'utf8').trim();
  const lines = [
    'certconfig trust new client-root pem=-',
    pem,
    '.',
    'certconfig trust new partner-ca pem=-',
    pem,
    '.',
    'listenerconfig new In private address=127.0.0.1 port=2525 hostname=mail.example.com',
    'listenerconfig edit In clientCertificateAuthorities=client-root,no-such-ca',
    'listenerconfig edit In clientCertificateAuthorities=client-root',
    'certconfig trust rename client-root site-ca',
    'listenerconfig show In',
    'certconfig trust delete site-ca',
    'certconfig trust delete partner-ca',
    'exit',
    'y',
  ];
  const output = spawnSync(process.execPath, [compiled('fipsconsole/console.js')], {
    env: { ...process.env, APPLIANCE_STATE_DIR: root, APPLIANCE_USER: 'admin' },
    input: `${lines.join('\n')}\n`,
    encoding: 'utf8',
  }).stdout;
  t.match(
    output,
    /the change was not made:\n\s+- listener "In" \(client certificate authorities\) \(clientCertificateAuthorities\): refers to trusted CA "no-such-ca", which does not exist/,
  );
  t.match(output, /"clientCertificateAuthorities": \[\n\s+"site-ca"\n\s+\]/, 'the rename followed into the listener');
  t.match(output, /cannot delete trusted CA "site-ca": it is used by listener "In" \(client certificate authorities\)/);
  t.match(output, /Deleted trusted CA "partner-ca"/, 'a CA no listener names can go');
});
