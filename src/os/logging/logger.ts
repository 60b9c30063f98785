// The process's structured log (pino JSON on stdout, read by journald).
// Secrets are redacted by key wherever they appear in a logged object.
import pino from 'pino';

export const redactedKeys = ['password', 'bindPassword', 'pin', 'soPin', 'userPin', 'passphrase', 'officerPassword', 'secret'];

export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info') {
  return pino({
    name: service,
    level,
    redact: { paths: [...redactedKeys, ...redactedKeys.map((k) => `*.${k}`)], censor: '[redacted]' },
  });
}

export type Logger = ReturnType<typeof createLogger>;
