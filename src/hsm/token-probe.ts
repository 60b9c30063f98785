// Whether the HSM token can be used, seen from a fresh process: a process whose
// token went away keeps its dead PKCS#11 state (SoftHSM2 never re-reads a token
// it lost; a card's sessions and the OpenSSL engine's are gone), so only a new
// module instance can tell that the token is back.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TokenProbeTarget {
  modulePath: string;
  tokenLabel: string;
  pinFile: string;
}

const probeMain = fileURLToPath(new URL('./token-probe-main.js', import.meta.url));

/** Opens the token and logs in as the crypto user in a child process; never throws. */
export function probeToken(target: TokenProbeTarget, timeoutMs = 15_000): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [probeMain, JSON.stringify(target)], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const detail = `${stdout}${stderr}`.trim().split('\n').pop() ?? '';
      resolve({ ok: !error, detail: detail || (error ? error.message : 'token present') });
    });
  });
}
