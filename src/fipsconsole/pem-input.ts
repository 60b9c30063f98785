// A PEM certificate pasted at the console, the way an administrator brings one to an
// appliance that offers no file transfer: line by line, ended by a line holding only ".".
// Over SSH the same works from a file: ssh admin@host 'fipsconfig import LABEL' < cert.pem

import type { ConsoleContext } from './commands.js';
import { UsageError } from './errors.js';

const maxLines = 2000;
const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]+-----END \1-----/;

export async function askPastedPem(ctx: ConsoleContext, what: string): Promise<string> {
  ctx.print(`Paste ${what} in PEM format, then a line holding only ".":`);
  const lines: string[] = [];
  for (;;) {
    const line = await ctx.readLine();
    if (line === '.') break;
    if (lines.push(line) > maxLines) throw new UsageError(`more than ${maxLines} lines pasted without the closing "."; nothing was changed`);
  }
  const pem = lines.join('\n').trim();
  if (!pemBlock.test(pem)) throw new UsageError(`what was pasted is not ${what} in PEM format (-----BEGIN … -----END …); nothing was changed`);
  return `${pem}\n`;
}
