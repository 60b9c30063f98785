// The PKCS#11 module, once per process. A module is one library instance per
// process (SoftHSM2 and the OpenSSL engine share it), so C_Initialize and
// C_Finalize are counted here rather than called by each user.
import pkcs11js from 'pkcs11js';

export type Pkcs11 = pkcs11js.PKCS11;
export type Handle = pkcs11js.Handle;

interface Loaded {
  lib: Pkcs11;
  users: number;
}

const loaded = new Map<string, Loaded>();

export function acquireModule(modulePath: string): Pkcs11 {
  const existing = loaded.get(modulePath);
  if (existing) {
    existing.users++;
    return existing.lib;
  }
  const lib = new pkcs11js.PKCS11();
  lib.load(modulePath);
  try {
    // Without CKF_OS_LOCKING_OK SoftHSM2 drops its locks and concurrent async calls crash the process.
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (!isPkcs11Error(error, pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw error;
  }
  loaded.set(modulePath, { lib, users: 1 });
  return lib;
}

export function releaseModule(modulePath: string): void {
  const entry = loaded.get(modulePath);
  if (!entry) return;
  if (--entry.users > 0) return;
  loaded.delete(modulePath);
  try {
    entry.lib.C_Finalize();
  } finally {
    entry.lib.close();
  }
}

export function isPkcs11Error(error: unknown, code: number): boolean {
  return error instanceof pkcs11js.Pkcs11Error && error.code === code;
}

export function tokenLabelOf(lib: Pkcs11, slot: Handle): string {
  return lib.C_GetTokenInfo(slot).label.trim();
}

export function isInitialised(lib: Pkcs11, slot: Handle): boolean {
  return (lib.C_GetTokenInfo(slot).flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0;
}

/** The slot whose initialised token has this label. */
export function findTokenSlot(lib: Pkcs11, label: string): Handle {
  for (const slot of lib.C_GetSlotList(true)) {
    if (isInitialised(lib, slot) && tokenLabelOf(lib, slot) === label) return slot;
  }
  throw new HsmError('token-missing', `no initialised HSM token labelled "${label}"`);
}

export type HsmErrorCode = 'busy' | 'token-missing' | 'not-initialised' | 'already-initialised' | 'error-state' | 'key-missing' | 'certificate-mismatch' | 'bad-input';

export class HsmError extends Error {
  constructor(
    readonly code: HsmErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HsmError';
  }
}
