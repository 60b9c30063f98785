// A deadline for the DATA phase. smtp-server's idle timeout restarts at every
// byte, so a client trickling one byte a minute could hold a session (and a
// connection place) for ever. Here DATA has a total time limit and a minimum
// rate, in the way of Postfix's smtpd_min_data_rate: after a grace period, the
// time allowed grows with the bytes received (bytes / rate), so a client that
// falls below the rate on average is cut, with 421 4.4.2, whatever its pauses.
import type { Readable } from 'node:stream';
import type { EffectivePolicy } from './mail-flow-policy.js';
import { smtpError } from './smtp-replies.js';

export type DataLimits = Pick<EffectivePolicy, 'dataTimeoutSeconds' | 'dataMinBytesPerSecond' | 'dataMinRateGraceSeconds'>;

export type DataVerdict = { status: 'ok'; recheckInMs: number } | { status: 'too-long' | 'too-slow' };

/** Whether a DATA phase `elapsedMs` old that has received `bytes` may go on, and when to look again. */
export function dataVerdict(elapsedMs: number, bytes: number, limits: DataLimits): DataVerdict {
  const totalMs = limits.dataTimeoutSeconds * 1000;
  if (elapsedMs >= totalMs) return { status: 'too-long' };
  const allowedMs = limits.dataMinBytesPerSecond > 0 ? (limits.dataMinRateGraceSeconds + bytes / limits.dataMinBytesPerSecond) * 1000 : Number.POSITIVE_INFINITY;
  if (elapsedMs >= allowedMs) return { status: 'too-slow' };
  return { status: 'ok', recheckInMs: Math.max(1, Math.ceil(Math.min(totalMs, allowedMs) - elapsedMs)) };
}

export const dataReplies = {
  tooLong: (seconds: number) => smtpError(421, '4.4.2', `DATA took longer than ${seconds} seconds, closing the connection`),
  tooSlow: (rate: number) => smtpError(421, '4.4.2', `DATA arrives slower than ${rate} bytes a second, closing the connection`),
};

export interface DataGuard {
  /** Set once the deadline has cut the message. */
  readonly cut: 'too-long' | 'too-slow' | undefined;
  /** The reply for the cut (421 4.4.2); smtp-server sends it and closes the connection. */
  reply(): Error;
  stop(): void;
}

/**
 * Watches smtp-server's DATA stream (its `byteLength` counts the bytes received):
 * at the deadline the stream is destroyed, so whoever reads it fails at once and
 * keeps nothing, and the caller answers with `reply()`.
 */
export function guardData(stream: Readable & { byteLength?: number }, limits: DataLimits, now: () => number = Date.now): DataGuard {
  const started = now();
  let cut: DataGuard['cut'];
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const verdict = dataVerdict(now() - started, stream.byteLength ?? 0, limits);
    if (verdict.status === 'ok') {
      timer = setTimeout(check, verdict.recheckInMs);
      timer.unref();
      return;
    }
    cut = verdict.status;
    stream.destroy(Object.assign(new Error(`DATA deadline: ${cut}`), { code: 'EDATADEADLINE' }));
  };
  check();
  // Received in full: what follows (the spool's fsync) is not the client's time.
  stream.once('end', () => clearTimeout(timer));
  return {
    get cut() {
      return cut;
    },
    reply: () => (cut === 'too-long' ? dataReplies.tooLong(limits.dataTimeoutSeconds) : dataReplies.tooSlow(limits.dataMinBytesPerSecond)),
    stop: () => clearTimeout(timer),
  };
}
