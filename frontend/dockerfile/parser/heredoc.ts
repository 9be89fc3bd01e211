import { ShellLexer } from '../shell-lexer.js';
import type { Heredoc } from './node.js';

/** A heredoc marker without its body, as found on an instruction line. */
export type HeredocMarker = Omit<Heredoc, 'content'>;

const markerPattern = /^(\d*)<<(-?)([^<]*)$/;
const empty = new Map<string, string>();
const plain = new ShellLexer({ skipUnsetEnv: true });
const raw = plain.with({ rawQuotes: true });
const lineLexer = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });

function quoteCount(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '"' || ch === "'") n++;
  return n;
}

/**
 * Recognises one heredoc marker word (`<<EOF`, `<<-'EOF'`, `3<<"E O F"`). Returns undefined for a
 * word that is not a marker. The terminator is lexed with and without quote removal: a difference
 * means part of it was quoted, which turns expansion of the body off. Throws WordExpansionError for
 * an unterminated quote in the terminator (BuildKit reports it the same way).
 */
export function parseHeredocMarker(word: string): HeredocMarker | undefined {
  const m = markerPattern.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest === '') return undefined;
  const words = plain.processWords(rest, empty);
  if (words.length !== 1) return undefined;
  const rawWords = raw.processWords(rest, empty);
  if (rawWords.length !== words.length) {
    throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0]!;
  return {
    name,
    fileDescriptor: m[1] === '' ? 0 : Number(m[1]),
    expand: quoteCount(name) === quoteCount(rawWords[0]!),
    chomp: m[2] === '-',
  };
}

/** Like parseHeredocMarker, but a malformed marker is simply not a marker. */
export function isHeredocMarker(word: string): HeredocMarker | undefined {
  try {
    return parseHeredocMarker(word);
  } catch {
    return undefined;
  }
}

/** The heredoc markers of an instruction line, in order (quoted `"<<EOF"` words are not markers). */
export function heredocMarkersOfLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = lineLexer.processWords(line, empty);
  } catch {
    return [];
  }
  const out: HeredocMarker[] = [];
  for (const word of words) {
    const marker = parseHeredocMarker(word);
    if (marker) out.push(marker);
  }
  return out;
}

/** `<<-` bodies: strips leading tabs from every line (lines end at `\n` only, as in Go). */
export function chompHeredocContent(content: string): string {
  return content.replace(/(^|\n)\t+/g, '$1');
}
