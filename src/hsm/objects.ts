// Finding token objects and reading their attributes, inside one pool session.
import pkcs11js from 'pkcs11js';
import type { Handle, Pkcs11 } from './module.js';

export function findObjects(lib: Pkcs11, session: Handle, template: pkcs11js.Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    const found: Handle[] = [];
    for (;;) {
      const batch = lib.C_FindObjects(session, 64);
      found.push(...batch);
      if (batch.length < 64) return found;
    }
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

export function readBuffers(lib: Pkcs11, session: Handle, handle: Handle, types: number[]): Buffer[] {
  return lib
    .C_GetAttributeValue(
      session,
      handle,
      types.map((type) => ({ type })),
    )
    .map((attribute) => (Buffer.isBuffer(attribute.value) ? attribute.value : Buffer.alloc(0)));
}

export function readBoolean(value: Buffer): boolean {
  return value.length > 0 && value[0] !== 0;
}

export function readNumber(value: Buffer): number {
  if (value.length >= 8) return Number(value.readBigUInt64LE(0)); // CK_ULONG is 64 bits on Linux
  return value.length >= 4 ? value.readUInt32LE(0) : 0;
}

export const privateKeys = (label?: string): pkcs11js.Template => [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
  ...(label === undefined ? [] : [{ type: pkcs11js.CKA_LABEL, value: label }]),
];

/** Label of the n-th chain certificate stored after a key's leaf certificate. */
export const chainLabel = (label: string, n: number) => `${label}.chain${n}`;

/** Every object stored with a key: its pair and leaf certificate (same CKA_ID) and its chain certificates. */
export function objectsOfKey(lib: Pkcs11, session: Handle, label: string, id: Buffer): Handle[] {
  const found = findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: id }]);
  for (let n = 1; ; n++) {
    const chain = findObjects(lib, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
      { type: pkcs11js.CKA_LABEL, value: chainLabel(label, n) },
    ]);
    if (chain.length === 0) return found;
    found.push(...chain);
  }
}
