// The child process of token-probe.ts: exit 0 when the token opens and the crypto user logs in.
import { readUserPin } from './pin.js';
import { SessionPool } from './pool.js';
import type { TokenProbeTarget } from './token-probe.js';

const target = JSON.parse(process.argv[2] ?? '{}') as TokenProbeTarget;
try {
  const pool = SessionPool.open({ modulePath: target.modulePath, tokenLabel: target.tokenLabel, userPin: readUserPin(target.pinFile), size: 1 });
  const label = pool.lib.C_GetTokenInfo(pool.slot).label.trim();
  pool.close();
  console.log(`token "${label}" opens and the crypto user logs in`);
} catch (err) {
  console.log(`token "${target.tokenLabel}" cannot be used: ${(err as Error).message}`);
  process.exitCode = 1;
}
