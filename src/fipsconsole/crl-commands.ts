// `crlconfig status` and `crlconfig fetch NAME`: the CRL sources live in the
// gateway service, which holds the revocation index; the console asks it.
import type { SourceStatus } from '../mail/crl/saved-state.js';
import { SavedState } from '../mail/crl/saved-state.js';
import { requestServiceAction, ServiceUnavailable } from '../os/service-requests.js';
import type { ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

function describe(status: SourceStatus): string {
  const lines = [
    `${status.name}:`,
    `  last attempt ${status.lastAttempt ?? 'never'}, last success ${status.lastSuccess ?? 'never'}${status.urlUsed ? ` from ${status.urlUsed}` : ''}`,
  ];
  if (status.entries !== undefined) lines.push(`  ${status.entries} entries, CRL number ${status.crlNumber ?? '-'}, issuer ${status.issuer ?? '-'}`);
  if (status.thisUpdate) lines.push(`  thisUpdate ${status.thisUpdate}, nextUpdate ${status.nextUpdate ?? '-'}`);
  if (status.nextRun) lines.push(`  next scheduled download ${status.nextRun}`);
  if (status.inProgress)
    lines.push(`  downloading ${status.inProgress.url}: ${status.inProgress.received} bytes${status.inProgress.total ? ` of ${status.inProgress.total}` : ''}`);
  if (status.lastError) lines.push(`  last error: ${status.lastError}`);
  return lines.join('\n');
}

export const crlStatus = {
  usage: '',
  async run(_args: string[], ctx: ConsoleContext): Promise<void> {
    let statuses: SourceStatus[];
    try {
      statuses = (await requestServiceAction(ctx.runtime.paths.run, 'gateway', 'crl-status', {}, 10_000)) as SourceStatus[];
    } catch (err) {
      if (!(err instanceof ServiceUnavailable)) throw err;
      const saved = new SavedState(ctx.runtime.paths.crl);
      statuses = ctx.runtime.config.crl.sources.map((s) => saved.loadStatus(s.name));
      ctx.print('(the gateway service is not running: showing the last saved status)');
    }
    ctx.print(`CRL checking: ${ctx.runtime.config.crl.enabled ? 'on' : 'off'}; issuer without a current CRL: ${ctx.runtime.config.crl.whenIssuerHasNoCrl}`);
    ctx.print(statuses.length ? statuses.map(describe).join('\n') : 'No CRL sources.');
  },
};

export const crlFetch = {
  usage: 'NAME',
  async run([name]: string[], ctx: ConsoleContext): Promise<void> {
    if (!name || !ctx.runtime.config.crl.sources.some((s) => s.name === name)) {
      throw new UsageError(`name a committed CRL source: ${ctx.runtime.config.crl.sources.map((s) => s.name).join(', ') || 'none yet'}`);
    }
    ctx.print(`Downloading CRL source ${name}…`);
    try {
      const status = (await requestServiceAction(ctx.runtime.paths.run, 'gateway', 'crl-fetch', { source: name }, 15 * 60_000, () => process.stdout.write('.'))) as SourceStatus;
      ctx.print(`\n${describe(status)}`);
      if (status.lastError && status.lastAttempt !== status.lastSuccess) {
        throw new UsageError(
          status.lastSuccess
            ? `the download was refused; the last good CRL, downloaded ${status.lastSuccess}, stays in use`
            : `the download was refused, and source ${name} has no good CRL yet: certificates of its issuer are handled as whenIssuerHasNoCrl says ` +
                `(${ctx.runtime.config.crl.whenIssuerHasNoCrl}). Correct the source (crlconfig source edit ${name} primaryUrl=…), commit, and run "crlconfig fetch ${name}" again`,
        );
      }
    } catch (err) {
      if (err instanceof ServiceUnavailable) throw new UsageError(`${err.message}; the CRL is fetched by the gateway service`);
      throw err;
    }
  },
};
