// Queue commands from other processes (the console) reach the queue manager
// as small request files in spool/requests/: the manager is the only writer of
// queue state, and applies them at its next scan (a message being delivered
// right now waits for its attempt to end).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { writeFileDurably } from '../../os/atomic-file.js';

export type QueueRequest = { action: 'delete' | 'bounce'; mid?: number; recipient?: string } | { action: 'flush' };

export function leaveRequest(requestsDir: string, request: QueueRequest): string {
  if (request.action !== 'flush' && request.mid === undefined && !request.recipient?.trim()) throw new Error(`${request.action} needs a MID or a recipient`);
  const path = join(requestsDir, `${Date.now()}-${randomUUID()}.json`);
  writeFileDurably(path, JSON.stringify(request));
  return path;
}
