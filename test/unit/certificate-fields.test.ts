import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseCertificate } from '../../src/mail/certificate-fields.js';
import { tempState } from '../helpers/state.js';

function certificate(t: Test, subject: string, extensions: string[]): X509Certificate {
  const dir = tempState(t);
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
      join(dir, 'k.pem'),
      '-out',
      join(dir, 'c.pem'),
      '-days',
      '2',
      '-subj',
      subject,
      '-set_serial',
      '0x00ab01cd',
      ...extensions.flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
  return new X509Certificate(execFileSync('cat', [join(dir, 'c.pem')]));
}

t.test('the fields a Common Access Card certificate gives the authentication profiles', async (t) => {
  const cac = certificate(t, '/C=US/O=U.S. Government/OU=DoD/CN=DOE.JOHN.1234567890', [
    'subjectAltName=email:john.doe@mail.mil,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:1234567890@mil',
    'keyUsage=critical,digitalSignature,nonRepudiation',
    'extendedKeyUsage=clientAuth,emailProtection',
  ]);
  const { fields, usage } = parseCertificate(cac);
  t.same(fields, {
    cn: 'DOE.JOHN.1234567890',
    sn: 'AB01CD',
    subject: 'CN=DOE.JOHN.1234567890,OU=DoD,O=U.S. Government,C=US',
    issuer: 'CN=DOE.JOHN.1234567890,OU=DoD,O=U.S. Government,C=US',
    email: 'john.doe@mail.mil',
    upn: '1234567890@mil',
  });
  t.same(usage.keyUsage, { digitalSignature: true, keyAgreement: false });
  t.same(usage.extendedKeyUsage, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4']);
});

t.test('special characters in a DN are escaped as RFC 4514 says, and missing fields are empty', async (t) => {
  const odd = certificate(t, '/O=Smith\\, Jones \\+ Co/CN=EVE*)(uid=*', []);
  const { fields, usage } = parseCertificate(odd);
  t.equal(fields.cn, 'EVE*)(uid=*', 'the CN is given as written; LDAP escaping is the query builder’s job');
  t.equal(fields.subject, 'CN=EVE*)(uid=*,O=Smith\\, Jones \\+ Co');
  t.equal(fields.email, '');
  t.equal(fields.upn, '');
  t.equal(usage.keyUsage, undefined, 'no keyUsage extension: any use');
});
