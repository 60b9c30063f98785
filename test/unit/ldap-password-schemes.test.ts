// Password-as-attribute checking against hashes made by the real tools:
// openssl passwd for crypt(3) formats, slappasswd for {SHA} and {SSHA}.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { checkStoredPassword } from '../../src/mail/auth/password-schemes.js';

const openssl = (...args: string[]) => execFileSync('openssl', ['passwd', ...args], { encoding: 'utf8' }).trim();
const slappasswd = (scheme: string, password: string) => execFileSync('slappasswd', ['-h', scheme, '-s', password], { encoding: 'utf8' }).trim();

t.test('{CRYPT} MD5-crypt and SHA-crypt hashes made by openssl passwd', async (t) => {
  for (const password of ['Tr0ub4dor&3', 'x', 'a much longer pass phrase with spaces and ünïcödé, over sixteen bytes']) {
    for (const format of ['-1', '-5', '-6']) {
      const hash = openssl(format, '-salt', 'saltsaltSALT', password);
      t.equal(checkStoredPassword(`{CRYPT}${hash}`, password), 'match', `${format} ${hash.slice(0, 6)} accepts the right password`);
      t.equal(checkStoredPassword(`{CRYPT}${hash}`, `${password}!`), 'mismatch', `${format} refuses a wrong one`);
    }
  }
  // Drepper's specification vector, and a libxcrypt hash with explicit rounds.
  const vector = '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.';
  t.equal(checkStoredPassword(`{CRYPT}${vector}`, 'Hello world!'), 'match', 'rounds=10000 SHA-512');
  t.equal(checkStoredPassword('{crypt}$5$rounds=1000$abc$vOj.78b1bSxlM0AmTY7JVy09T5GAi2I0AkTjFv..6j9', 'Hello world!'), 'match', 'rounds=1000 SHA-256');
});

t.test('{SHA} and {SSHA} made by slappasswd, with a case-insensitive scheme name', async (t) => {
  for (const scheme of ['{SHA}', '{SSHA}']) {
    const hash = slappasswd(scheme, 'Secret-123');
    t.equal(checkStoredPassword(hash, 'Secret-123'), 'match', `${scheme} right password`);
    t.equal(checkStoredPassword(hash, 'secret-123'), 'mismatch', `${scheme} wrong password`);
    t.equal(
      checkStoredPassword(
        hash.replace(/^\{(\w+)\}/, (_, s: string) => `{${s.toLowerCase()}}`),
        'Secret-123',
      ),
      'match',
      `${scheme} lower-case scheme`,
    );
  }
});

t.test('unknown schemes and DES crypt are reported as unsupported, not accepted', async (t) => {
  t.same(checkStoredPassword('{ARGON2}$argon2id$v=19$m=65536,t=2,p=1$abc$def', 'x'), { unsupported: '{ARGON2}' });
  t.same(checkStoredPassword('{CRYPT}abJnggxhB/yWI', 'x'), { unsupported: '{CRYPT} DES format' });
  t.equal(checkStoredPassword('{SSHA}', 'x'), 'mismatch', 'an empty hash matches nothing');
});
