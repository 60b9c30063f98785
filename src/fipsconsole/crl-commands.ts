// `crlconfig status` and `crlconfig fetch NAME`: words to the administration core's
// CRL operations (src/admin/crl.ts) and their results to text.
import { type CrlSourceState, crlSourceStatus, fetchCrlNow } from '../admin/crl.js';
import { actorOf, type ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

function describe(status: CrlSourceState): string {
  const lines = [
    `${status.name}:`,
    `  last attempt ${status.lastAttempt ?? 'never'}, last success ${status.lastSuccess ?? 'never'}${status.urlUsed ? ` from ${status.urlUsed}` : ''}`,
  ];
  if (status.entries !== undefined) lines.push(`  ${status.entries} entries, CRL number ${status.crlNumber ?? '-'}, issuer ${status.issuer ?? '-'}`);
  if (status.thisUpdate) lines.push(`  thisUpdate ${status.thisUpdate}, nextUpdate ${status.nextUpdate ?? '-'}`);
  if (status.next) lines.push(`  next scheduled download ${status.next}`);
  if (status.inProgress)
    lines.push(`  downloading ${status.inProgress.url}: ${status.inProgress.received} bytes${status.inProgress.total ? ` of ${status.inProgress.total}` : ''}`);
  if (status.error) lines.push(`  last error: ${status.error}`);
  return lines.join('\n');
}

export const crlStatus = {
  usage: '',
  async run(_args: string[], ctx: ConsoleContext): Promise<void> {
    const status = await crlSourceStatus(ctx.runtime, actorOf(ctx));
    if (!status.live) ctx.print('(the gateway service is not running: showing the last saved status)');
    ctx.print(`CRL checking: ${status.checking ? 'on' : 'off'}; issuer without a current CRL: ${status.whenIssuerHasNoCrl}`);
    ctx.print(status.sources.length ? status.sources.map(describe).join('\n') : 'No CRL sources.');
  },
};

export const crlFetch = {
  usage: 'NAME',
  async run([name]: string[], ctx: ConsoleContext): Promise<void> {
    let started = false;
    // Said once the gateway has the request (a refused role never reads "Downloading"), then a dot while it runs.
    const onWait = () => {
      if (started) return void process.stdout.write('.');
      started = true;
      ctx.print(`Downloading CRL source ${name}…`);
    };
    const { source, refused } = await fetchCrlNow(ctx.runtime, actorOf(ctx), name ?? '', onWait);
    ctx.print(`\n${describe(source)}`);
    if (refused) throw new UsageError(source.lastSuccess ? refused : `${refused}: "crlconfig source edit ${name} primaryUrl=…", "commit", then "crlconfig fetch ${name}"`);
  },
};
