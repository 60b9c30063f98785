// The CRL sources' state and "download now": the sources run in the gateway service,
// which holds the revocation index, so both ask it; with the gateway stopped the
// status is the one each source last saved (src/mail/crl/saved-state.ts).
import { SavedState, type SourceStatus } from '../mail/crl/saved-state.js';
import type { ApplianceConfig } from '../os/config/schema.js';
import type { Runtime } from '../os/runtime.js';
import { requestServiceAction, ServiceUnavailable } from '../os/service-requests.js';
import type { Actor } from './actor.js';
import { AdminError } from './errors.js';
import { authorize } from './permissions.js';

type ConfiguredSource = ApplianceConfig['crl']['sources'][number];

export interface CrlSourceState {
  name: string;
  /** As committed; undefined for a source the gateway still reports but the configuration no longer has. */
  enabled?: boolean;
  primaryUrl?: string;
  secondaryUrl?: string;
  lastAttempt?: string;
  lastSuccess?: string;
  /** The URL of the last attempt's outcome: the one accepted, or the last one tried. */
  urlUsed?: string;
  /** When the schedule runs next (only while the gateway runs). */
  next?: string;
  entries?: number;
  crlNumber?: string;
  issuer?: string;
  thisUpdate?: string;
  nextUpdate?: string;
  /** A download under way: how far it is. */
  inProgress?: { url: string; received: number; total?: number };
  /** What went wrong at the last attempt. */
  error?: string;
}

export interface CrlStatus {
  /** CRL checking on or off. */
  checking: boolean;
  whenIssuerHasNoCrl: ApplianceConfig['crl']['whenIssuerHasNoCrl'];
  /** False when the gateway service is not running and the states are the last saved ones. */
  live: boolean;
  sources: CrlSourceState[];
}

export interface CrlFetchOutcome {
  source: CrlSourceState;
  /** Set when the download was refused: what it means and what to do (the last good CRL, if any, stays in use). */
  refused?: string;
}

const statusTimeoutMs = 10_000;
const fetchTimeoutMs = 15 * 60_000;

function stateOf(status: SourceStatus, configured: ConfiguredSource | undefined): CrlSourceState {
  const { nextRun, lastError, ...rest } = status;
  return {
    ...rest,
    ...(configured ? { enabled: configured.enabled, primaryUrl: configured.primaryUrl, ...(configured.secondaryUrl ? { secondaryUrl: configured.secondaryUrl } : {}) } : {}),
    ...(nextRun ? { next: nextRun } : {}),
    ...(lastError ? { error: lastError } : {}),
  };
}

export async function crlSourceStatus(runtime: Runtime, actor: Actor): Promise<CrlStatus> {
  authorize(actor, 'read');
  const { crl } = runtime.config;
  const configured = (name: string) => crl.sources.find((s) => s.name === name);
  let statuses: SourceStatus[];
  let live = true;
  try {
    statuses = (await requestServiceAction(runtime.paths.run, 'gateway', 'crl-status', {}, statusTimeoutMs)) as SourceStatus[];
  } catch (err) {
    if (!(err instanceof ServiceUnavailable)) throw new AdminError(`the gateway service could not say the CRL status: ${(err as Error).message}`, 'unavailable');
    const saved = new SavedState(runtime.paths.crl);
    statuses = crl.sources.map((s) => saved.loadStatus(s.name));
    live = false;
  }
  return { checking: crl.enabled, whenIssuerHasNoCrl: crl.whenIssuerHasNoCrl, live, sources: statuses.map((s) => stateOf(s, configured(s.name))) };
}

/**
 * Downloads a committed source's CRL now, in the gateway service; `onWait` is called while it
 * runs (about every 250 ms). A refused download is an outcome, not an error: the status says why.
 */
export async function fetchCrlNow(runtime: Runtime, actor: Actor, name: string, onWait?: () => void): Promise<CrlFetchOutcome> {
  authorize(actor, 'fetch');
  const { crl } = runtime.config;
  const source = crl.sources.find((s) => s.name === name);
  if (!source) throw new AdminError(`name a committed CRL source: ${crl.sources.map((s) => s.name).join(', ') || 'none yet'}`, 'not-found');
  let status: SourceStatus;
  try {
    status = (await requestServiceAction(runtime.paths.run, 'gateway', 'crl-fetch', { source: name }, fetchTimeoutMs, onWait)) as SourceStatus;
  } catch (err) {
    if (err instanceof ServiceUnavailable) throw new AdminError(`${err.message}; the CRL is fetched by the gateway service`, 'unavailable');
    throw new AdminError(`the download of CRL source ${name} failed: ${(err as Error).message}`, 'unavailable');
  }
  const outcome: CrlFetchOutcome = { source: stateOf(status, source) };
  if (status.lastError && status.lastAttempt !== status.lastSuccess) {
    outcome.refused = status.lastSuccess
      ? `the download was refused; the last good CRL, downloaded ${status.lastSuccess}, stays in use`
      : `the download was refused, and source ${name} has no good CRL yet: certificates of its issuer are handled as whenIssuerHasNoCrl says ` +
        `(${crl.whenIssuerHasNoCrl}). Correct the source's URL, commit, and download it again`;
  }
  return outcome;
}
