// The FIPS Officer's own process (see officer-protocol.ts for what it reads
// and writes). The state folder comes from APPLIANCE_STATE_DIR, the token from SOFTHSM2_CONF.
import { text } from 'node:stream/consumers';
import { openRuntime } from '../os/runtime.js';
import { backupHsm, restoreHsm } from './backup.js';
import { officerFor } from './context.js';
import { hsmFiles } from './files.js';
import { HsmError } from './module.js';
import { type BackupProgress, type OfficerRequest, progressMarker, resultMarker } from './officer-protocol.js';
import { readUserPin } from './pin.js';

function reply(result: unknown): void {
  process.stdout.write(`\n${resultMarker}${JSON.stringify(result)}\n`);
}

function progress(step: BackupProgress): void {
  process.stdout.write(`\n${progressMarker}${JSON.stringify(step)}\n`);
}

const request = JSON.parse(await text(process.stdin)) as OfficerRequest;
const runtime = await openRuntime('fips-officer');
try {
  const officer = officerFor(runtime);
  if (request.command === 'initialise') {
    officer.initialise(request.password);
    reply({ ok: true });
  } else if (request.command === 'login') {
    reply(await officer.login(request.password));
  } else if (request.command === 'change-password') {
    reply(await officer.changePassword(request.password, request.newPassword));
  } else {
    const { modulePath, tokenLabel } = runtime.config.hsm;
    const options = {
      officerPassword: request.password,
      passphrase: request.passphrase,
      file: request.file,
      modulePath,
      tokenLabel,
      userPin: readUserPin(hsmFiles(runtime.paths).userPin),
      onProgress: progress,
    };
    reply(request.command === 'backup' ? await backupHsm(officer, options) : await restoreHsm(officer, options));
  }
} catch (error) {
  reply({ ok: false, error: error instanceof Error ? error.message : String(error), code: error instanceof HsmError ? error.code : undefined });
  process.exitCode = 1;
} finally {
  runtime.close();
}
