import { isSpace, trimSpace } from '../go-text.js';

/** BuildKit's separator between keyword and arguments: runs of tab, VT, FF, CR and space. */
const whitespace = /[\t\v\f\r ]+/;

/** Splits `s` at the first run of whitespace (Go's `regexp.Split(s, 2)`). */
export function splitOnce(s: string): [string] | [string, string] {
  const m = whitespace.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

/** Splits on every run of whitespace (Go's `regexp.Split(s, -1)`). */
export function splitAll(s: string): string[] {
  return s.split(/[\t\v\f\r ]+/);
}

/** Splits an instruction line into keyword, `--flags` and the remaining argument text. */
export function splitCommand(line: string): { command: string; flags: string[]; args: string } {
  const parts = splitOnce(trimSpace(line));
  if (parts.length === 1) return { command: parts[0], flags: [], args: '' };
  const { rest, flags } = extractFlags(parts[1]);
  return { command: parts[0], flags, args: trimSpace(rest) };
}

/**
 * Takes leading `--name[=value]` words off the argument text. Quotes group and are removed inside
 * flags; `\` always escapes here (whatever the escape directive says); a bare `--` ends the flags.
 */
export function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = pos < line.length ? line[pos]! : '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-')
        return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word !== '')) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word !== '') flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      ch = line[++pos]!;
    }
    word += ch;
  }
  return { rest: '', flags };
}
