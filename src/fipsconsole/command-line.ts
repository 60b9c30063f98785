// A command line as the console accepts it, typed at the prompt or given on the SSH
// command line alike: no longer than a limit, control characters and escape sequences
// dropped (tab stays a separator), split into words and into commands at ";".
import { splitCommandLine, splitSequence } from './words.js';

export const maxLineLength = 4096;

/** Drops control characters and escape sequences a terminal could act on (tab stays a separator). */
export function withoutControlCharacters(line: string): string {
  return [...line].filter((c) => c === '\t' || (c >= ' ' && c !== '\u007f' && !(c >= '\u0080' && c <= '\u009f'))).join('');
}

/** The commands of a line, or why the line is refused. */
export function commandsOfLine(line: string): { commands: string[][] } | { refused: string } {
  if (line.length > maxLineLength) return { refused: `The line is longer than ${maxLineLength} characters and was ignored.` };
  try {
    return { commands: splitSequence(splitCommandLine(withoutControlCharacters(line))) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

/** The commands of a one-shot invocation: one line (SSH_ORIGINAL_COMMAND, or a single argument), or words already split. */
export function commandsOfArguments(args: string[]): { commands: string[][] } | { refused: string } {
  if (args.length === 1) return commandsOfLine(args[0]!);
  if (args.join(' ').length > maxLineLength) return { refused: `The command line is longer than ${maxLineLength} characters and was ignored.` };
  return { commands: splitSequence(args.map(withoutControlCharacters)) };
}
