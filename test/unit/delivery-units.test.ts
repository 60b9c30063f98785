// The streaming DKIM body hash equals the hash of the whole body canonicalized
// at once (RFC 6376 3.4.3/3.4.4), wherever the chunks happen to be cut; DSN
// status codes; the retry back-off.
import { createHash } from 'node:crypto';
import t from 'tap';
import { BodyHasher } from '../../src/mail/delivery/dkim-signer.js';
import { statusOf } from '../../src/mail/delivery/dsn.js';
import { backoffMs } from '../../src/mail/delivery/queue-manager.js';

const sha = (s: string) => createHash('sha256').update(s, 'latin1').digest('base64');

function whole(body: string, mode: 'relaxed' | 'simple'): string {
  let lines = body.split('\r\n');
  if (lines.at(-1) === '') lines.pop();
  if (mode === 'relaxed') lines = lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  if (lines.length === 0) return mode === 'simple' ? '\r\n' : '';
  return `${lines.join('\r\n')}\r\n`;
}

const bodies = ['Hello  World \t\r\n\r\n  indented\r\nlast line without break', 'a\r\n\r\n\r\n', '', '\r\n\r\n', 'x\r\n\r\ny \r\n\r\n'];

for (const mode of ['relaxed', 'simple'] as const) {
  t.test(`${mode}: any chunking gives the one-shot hash`, async (t) => {
    for (const body of bodies) {
      for (const size of [1, 2, 3, 7, 1000]) {
        const hasher = new BodyHasher(mode);
        for (let i = 0; i < body.length; i += size) hasher.update(Buffer.from(body.slice(i, i + size), 'latin1'));
        t.equal(hasher.digest(), sha(whole(body, mode)), `${JSON.stringify(body)} in chunks of ${size}`);
      }
    }
  });
}

t.test('the empty body hashes as RFC 6376 says', async (t) => {
  t.equal(new BodyHasher('simple').digest(), 'frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=', 'simple: one CRLF');
  t.equal(new BodyHasher('relaxed').digest(), '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', 'relaxed: nothing');
});

t.test('DSN status codes come from the reply', async (t) => {
  t.equal(statusOf('550 5.1.1 no such user'), '5.1.1');
  t.equal(statusOf('451 try later'), '4.0.0');
  t.equal(statusOf('5.0.0 bounced by the administrator'), '5.0.0');
  t.equal(statusOf('connect ECONNREFUSED 127.0.0.1:25'), '4.4.7');
});

t.test('back-off doubles from the first interval up to the maximum (Postfix: 300 s to 4000 s)', async (t) => {
  const retry = { firstMs: 300_000, maxMs: 4_000_000 };
  t.same(
    [1, 2, 3, 4, 5, 6, 20].map((n) => backoffMs(n, retry) / 1000),
    [300, 600, 1200, 2400, 4000, 4000, 4000],
  );
});
