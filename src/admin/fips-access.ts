// What every FIPS Officer and HSM operation checks first, and how the HSM's own
// errors reach a front end: as AdminErrors with a kind, in the HSM's words.
import { HsmError, type HsmErrorCode } from '../hsm/module.js';
import type { Actor } from './actor.js';
import { AdminError, type AdminErrorKind } from './errors.js';
import { authorize } from './permissions.js';

export const fipsModeNeeded = 'this needs FIPS management mode: log in as the FIPS Officer first';

/** An admin's operation on the HSM; `needsMode` unless it is one of the few that open or describe the mode. */
export function authorizeFips(actor: Actor, needsMode = true): void {
  authorize(actor, 'hsm');
  if (needsMode && !actor.fipsMode) throw new AdminError(fipsModeNeeded, 'forbidden');
}

const kinds: Record<HsmErrorCode, AdminErrorKind> = {
  'bad-input': 'invalid',
  'certificate-mismatch': 'invalid',
  'key-missing': 'not-found',
  'already-initialised': 'conflict',
  busy: 'conflict',
  'token-missing': 'unavailable',
  'not-initialised': 'unavailable',
  'error-state': 'unavailable',
};

export function kindOfHsmCode(code: string | undefined): AdminErrorKind {
  return code && Object.hasOwn(kinds, code) ? kinds[code as HsmErrorCode] : 'invalid';
}

/** Runs an HSM call; an HsmError becomes an AdminError with the same message. */
export async function hsmCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HsmError) throw new AdminError(error.message, kindOfHsmCode(error.code));
    throw error;
  }
}

/** "user (client IP or tty)", as the FIPS log names who acted. */
export function whoActed(actor: Actor): string {
  return `${actor.user} (${actor.from ?? actor.source})`;
}
