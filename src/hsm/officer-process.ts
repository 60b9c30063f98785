// Runs an Officer request in a process of its own (officer-main.js), as the
// console must: its SO login may not share the services' PKCS#11 login state.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type BackupProgress, type OfficerProcessResult, type OfficerRequest, progressMarker, resultMarker } from './officer-protocol.js';

export interface OfficerProcessOptions {
  env?: NodeJS.ProcessEnv;
  /** officer-main.js; defaults to the one next to this module. */
  script?: string;
  onProgress?: (progress: BackupProgress) => void;
}

export function runOfficerProcess(request: OfficerRequest, options: OfficerProcessOptions = {}): Promise<OfficerProcessResult> {
  const script = options.script ?? join(import.meta.dirname, 'officer-main.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = '';
    let result: OfficerProcessResult | undefined;
    let err = '';
    const line = (text: string) => {
      if (text.startsWith(progressMarker)) options.onProgress?.(JSON.parse(text.slice(progressMarker.length)) as BackupProgress);
      else if (text.startsWith(resultMarker)) result = JSON.parse(text.slice(resultMarker.length)) as OfficerProcessResult;
    };
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) line(text);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      line(pending);
      if (result) resolve(result);
      else reject(new Error(`the Officer process ended with code ${code} and no result: ${err.trim()}`));
    });
    child.stdin.end(JSON.stringify(request));
  });
}
