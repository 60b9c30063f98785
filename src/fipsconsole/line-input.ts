// Reading lines from the administrator: prompts with a default, and secrets
// read without echo on a terminal. Works on a terminal and on piped input
// (scripts, `ssh host 'command'` with answers on stdin).
import { createInterface, type Interface } from 'node:readline';

export class InputClosed extends Error {}

export class LineInput {
  private readonly rl: Interface;
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;
  private muted = false;

  constructor(completer?: (line: string) => [string[], string]) {
    this.rl = createInterface({ input: process.stdin, output: process.stdout, terminal: Boolean(process.stdin.isTTY), ...(completer ? { completer } : {}) });
    const rl = this.rl as unknown as { _writeToOutput: (text: string) => void };
    const write = rl._writeToOutput.bind(rl);
    rl._writeToOutput = (text: string) => {
      if (!this.muted || text.includes('\n')) write(this.muted ? '\n' : text);
    };
    this.rl.on('line', (line) => {
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve(line);
      } else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
    });
  }

  onInterrupt(handler: () => void): void {
    this.rl.on('SIGINT', handler);
    // With a listener, readline leaves the terminal as it is on Ctrl-Z; without one it
    // leaves raw mode and suspends the process, and there is nothing to suspend to.
    this.rl.on('SIGTSTP', () => {});
  }

  async question(prompt: string, options: { secret?: boolean } = {}): Promise<string> {
    process.stdout.write(prompt);
    const line = this.lines.shift() ?? (this.closed ? undefined : await this.next(options.secret ?? false));
    if (line === undefined) throw new InputClosed('input closed');
    if (!process.stdin.isTTY) process.stdout.write(options.secret ? '\n' : `${line}\n`);
    return line;
  }

  close(): void {
    this.rl.close();
  }

  private next(secret: boolean): Promise<string | undefined> {
    this.muted = secret;
    return new Promise((resolve) => {
      this.waiting = (line) => {
        this.muted = false;
        resolve(line);
      };
    });
  }
}
