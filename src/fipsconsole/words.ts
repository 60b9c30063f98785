// Splits a console line into words, with "double" or 'single' quotes for words
// that hold spaces. There is no expansion of any kind: no variables, globs or
// command substitution, because nothing here is handed to a shell.
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) words.push(word);
  return words;
}

/** Splits words into commands at each ";" word. */
export function splitSequence(words: string[]): string[][] {
  const sequences: string[][] = [[]];
  for (const word of words) {
    if (word === ';') sequences.push([]);
    else if (word.endsWith(';') && word.length > 1) {
      sequences.at(-1)!.push(word.slice(0, -1));
      sequences.push([]);
    } else sequences.at(-1)!.push(word);
  }
  return sequences.filter((s) => s.length > 0);
}
