// The gateway's corrections wrap smtp-server's internals. The installed smtp-server
// has every method they need, and a build that lacks one is named at load.
import { createRequire } from 'node:module';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection';
import { SMTPStream } from 'smtp-server/lib/smtp-stream';
import t from 'tap';
import { missingInternals, smtpServerInternals } from '../../src/mail/smtp-server-patches.js';

const require = createRequire(import.meta.url);

t.test('the installed smtp-server is the pinned one and has every internal the corrections use', async (t) => {
  const pinned = (require('../../package.json') as { dependencies: Record<string, string> }).dependencies['smtp-server'];
  t.match(pinned, /^\d+\.\d+\.\d+$/, 'package.json pins an exact version, not a range');
  t.equal((require('smtp-server/package.json') as { version: string }).version, pinned);
  t.same(missingInternals({ SMTPConnection: SMTPConnection.prototype, SMTPStream: SMTPStream.prototype }), []);
});

t.test('a build without one of them is refused, naming it', async (t) => {
  const without = (method: string) => {
    const proto = Object.create(SMTPConnection.prototype);
    proto[method] = undefined;
    return proto;
  };
  for (const method of smtpServerInternals.SMTPConnection) {
    t.same(missingInternals({ SMTPConnection: without(method), SMTPStream: SMTPStream.prototype }), [`SMTPConnection.prototype.${method}`], method);
  }
});
