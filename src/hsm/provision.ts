// Provisioning of a SoftHSM2 token folder under the state folder: the same
// template the shell script softhsm/provision uses. The token stays
// uninitialised until FIPS initialisation (officer.ts).
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileDurably } from '../os/atomic-file.js';
import type { HsmFiles } from './files.js';

// src/hsm and dist/hsm are both two levels below the repository.
export const softhsmTemplate = resolve(import.meta.dirname, '../../softhsm/softhsm2.conf.template');

export function renderSoftHsmConf(tokenDir: string, template = readFileSync(softhsmTemplate, 'utf8')): string {
  if (/[\r\n]/.test(tokenDir)) throw new Error('token folder path must be one line');
  return template.replaceAll('@TOKENDIR@', tokenDir);
}

/** Makes hsm/tokens and hsm/softhsm2.conf; returns the path for SOFTHSM2_CONF. Safe to run again. */
export function provisionSoftHsm(files: HsmFiles): string {
  mkdirSync(files.tokens, { recursive: true, mode: 0o700 });
  writeFileDurably(files.softhsmConf, renderSoftHsmConf(resolve(files.tokens)), 0o600);
  return files.softhsmConf;
}
