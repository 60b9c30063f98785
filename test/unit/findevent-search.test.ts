// findevent over mail logs written by the real log subscription, small enough
// to roll over several times: by MID (also with a colon after it, seed 76277,
// and never confusing MID 12 with MID 123), by sender, recipient and subject.
import { appendFileSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import { findEvents, logFiles } from '../../src/mail/findevent/findevent.js';
import { LogSubscriptions } from '../../src/os/logging/subscriptions.js';
import { tempState } from '../helpers/state.js';

const root = tempState(t, 'findevent-');
const logs = new LogSubscriptions(join(root, 'logs'), [{ name: 'mail_logs', type: 'mail', level: 'info', maxFileBytes: 2048, maxFiles: 100, alertOnDelete: false }]);
const write = (line: string) => logs.write('mail', 'info', line);

function message(mid: number, icid: number, dcid: number, from: string, to: string, subject: string) {
  write(`New SMTP ICID ${icid} interface Management (127.0.0.1) address 10.0.0.${icid % 250} reverse dns host unknown`);
  write(`Start MID ${mid} ICID ${icid}`);
  write(`MID ${mid} ICID ${icid} From: <${from}>`);
  write(`MID ${mid} ICID ${icid} RID 0 To: <${to}>`);
  write(`MID ${mid} Subject ${JSON.stringify(subject)}`);
  write(`MID ${mid} ready 1234 bytes from <${from}>`);
  write(`ICID ${icid} close`);
  write(`New SMTP DCID ${dcid} address 192.0.2.1 port 25`);
  write(`Delivery start DCID ${dcid} MID ${mid} to RID [0]`);
  write(`Message done DCID ${dcid} MID ${mid} to RID [0] ("250 ok")`);
  write(`MID ${mid}: Message finished done`);
  write(`DCID ${dcid} close`);
}

for (let i = 0; i < 40; i++) message(200 + i, 500 + i, 900 + i, `user${i}@example.com`, `rcpt${i}@example.org`, `Report number ${i}`);
message(12, 12, 12, 'alice@example.com', 'bob@example.org', 'Grüße');
message(123, 1230, 1231, 'carol@example.com', 'Bob@Example.org', 'Another');
logs.close();
const dir = join(root, 'logs', 'mail_logs');

t.ok(readdirSync(dir).filter((f) => f.endsWith('.s')).length > 5, 'the log rolled over several times');
t.equal(logFiles(dir, 'mail_logs').at(-1), join(dir, 'mail_logs.current'), 'the current file comes last');

t.test('by MID: every line, with the colon form and the connection lines, in order', async (t) => {
  const lines = await findEvents(dir, 'mail_logs', { mid: 205 });
  t.equal(lines.length, 12, 'all twelve lines of the message');
  t.match(lines[0], /New SMTP ICID 505 /, 'the connection opening first');
  t.ok(
    lines.some((l) => l.endsWith('Info: MID 205: Message finished done')),
    'the line with a colon after the MID',
  );
  t.match(lines.at(-1), /DCID 905 close$/);
  const grep = lines.map((l) => l.replace(/^.*?Info: /, ''));
  t.same(grep.slice(1, 3), ['Start MID 205 ICID 505', 'MID 205 ICID 505 From: <user5@example.com>']);
});

t.test('MID 12 is not MID 123, and MID 123 is not MID 1230', async (t) => {
  const twelve = await findEvents(dir, 'mail_logs', { mid: 12 });
  t.equal(twelve.length, 12);
  t.notOk(
    twelve.some((l) => /MID 123|ICID 1230/.test(l)),
    'no line of MID 123',
  );
  const other = await findEvents(dir, 'mail_logs', { mid: 123 });
  t.equal(other.length, 12);
  t.ok(other.every((l) => !/MID 12\b/.test(l)));
  t.same(await findEvents(dir, 'mail_logs', { mid: 99999 }), [], 'an unknown MID finds nothing');
});

t.test('by sender, recipient and subject', async (t) => {
  const bySender = await findEvents(dir, 'mail_logs', { sender: 'user7@example.com' });
  t.equal(bySender.length, 12);
  t.ok(bySender.every((l) => /(MID|ICID|DCID) (207|507|907)\b/.test(l)));
  const byRecipient = await findEvents(dir, 'mail_logs', { recipient: 'bob@example.org' });
  t.same([...new Set(byRecipient.flatMap((l) => [...(/MID (\d+)/.exec(l)?.slice(1) ?? [])]))].sort(), ['12', '123'], 'recipients match case-insensitively');
  const bySubject = await findEvents(dir, 'mail_logs', { subject: 'Grüße' });
  t.ok(
    bySubject.some((l) => l.includes('MID 12 Subject "Grüße"')),
    'a UTF-8 subject',
  );
  t.equal(bySubject.length, 12);
  t.equal((await findEvents(dir, 'mail_logs', { subject: 'Report number 37' })).length, 12, 'a part of a subject matches');
  t.equal((await findEvents(dir, 'mail_logs', { subject: 'Report number 3' })).length, 11 * 12, 'every subject containing it: 3 and 30 to 39');
  t.equal((await findEvents(dir, 'mail_logs', { sender: 'user7@example.com', recipient: 'rcpt8@example.org' })).length, 0, 'criteria combine');
});

t.test('rolled files are read through an index that follows changes to the file', async (t) => {
  const indexes = readdirSync(join(dir, '.findevent'));
  t.ok(indexes.length > 5 && indexes.every((f) => f.endsWith('.s.idx')), 'one index per rolled file');
  const rolled = logFiles(dir, 'mail_logs')[0] ?? '';
  appendFileSync(rolled, 'Sun Nov 29 18:00:00 2026 Info: MID 77777: appended after indexing\n');
  const found = await findEvents(dir, 'mail_logs', { mid: 77777 });
  t.equal(found.length, 1);
  t.match(found[0], /Info: MID 77777: appended after indexing$/, 'a file that changed is indexed again');
  rmSync(rolled);
  await findEvents(dir, 'mail_logs', { mid: 1 });
  t.notOk(readdirSync(join(dir, '.findevent')).includes(`${basename(rolled)}.idx`), 'the index of a deleted file goes with it');
});
