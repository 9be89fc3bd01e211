import { goQuote, isSpace, trimLeftSpace } from '../go-text.js';
import type { EscapeToken } from '../shell-lexer.js';
import { splitAll, splitOnce } from './split-command.js';

/** What an instruction's line parser makes of the text after the keyword and flags. */
export interface ParsedArgs {
  readonly args: string[];
  readonly json: boolean;
}

/** A malformed argument list; internal, the parser turns it into a DockerfileError with the line. */
export class ArgumentSyntaxError extends Error {}

const none: ParsedArgs = { args: [], json: false };

/**
 * Splits on unquoted whitespace keeping quotes and escapes in the words (they are removed later by
 * word expansion). Inside single quotes the escape character is literal.
 */
export function parseWords(rest: string, escape: EscapeToken): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word !== '') words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word !== '') words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        ch = chars[++pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++pos]!;
    }
    word += ch;
  }
  return words;
}

/** ENV and LABEL: `KEY value` (legacy) or `k=v k2="v 2" …`; yields key, value, key, value… */
export function parseNameVal(rest: string, escape: EscapeToken, keyword: 'ENV' | 'LABEL'): ParsedArgs {
  const words = parseWords(rest, escape);
  if (words.length === 0) return none;
  if (!words[0]!.includes('=')) {
    const parts = splitOnce(rest);
    if (parts.length < 2) throw new ArgumentSyntaxError(`${keyword} must have two arguments`);
    return { args: parts, json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new ArgumentSyntaxError(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
      );
    }
    args.push(word.slice(0, eq), word.slice(eq + 1));
  }
  return { args, json: false };
}

/** ARG: words, each `name` or `name=value`. */
export function parseNameOrNameVal(rest: string, escape: EscapeToken): ParsedArgs {
  return { args: parseWords(rest, escape), json: false };
}

/** FROM, EXPOSE and the shell form of ADD/COPY/VOLUME: whitespace-separated words, quotes kept. */
export function parseWhitespaceDelimited(rest: string): ParsedArgs {
  return rest === '' ? none : { args: splitAll(rest), json: false };
}

/** USER, WORKDIR, STOPSIGNAL, MAINTAINER: the whole rest as one argument. */
export function parseString(rest: string): ParsedArgs {
  return rest === '' ? none : { args: [rest], json: false };
}

/**
 * Reads a JSON array of strings at the start of `rest`, ignoring whatever follows it (as Go's
 * json.Decoder does). Returns undefined when the text is not a JSON array, so callers fall back
 * to the shell form; throws when it is an array of something other than strings.
 */
function parseJSONArray(rest: string): string[] | undefined {
  const text = trimLeftSpace(rest);
  if (!text.startsWith('[')) return undefined;
  const end = jsonValueEnd(text);
  if (end < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text.slice(0, end));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new ArgumentSyntaxError('when using JSON array syntax, arrays must be comprised of strings only');
  }
  return value;
}

/** Index just past the bracketed JSON value starting at 0, or -1 when it never closes. */
function jsonValueEnd(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === '[' || ch === '{') {
      depth++;
    } else if (ch === ']' || ch === '}') {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array (exec form) or the rest as one string (shell form). */
export function parseMaybeJSON(rest: string): ParsedArgs {
  if (rest === '') return none;
  const list = parseJSONArray(rest);
  return list ? { args: list, json: true } : { args: [rest], json: false };
}

/** ADD, COPY, VOLUME: a JSON array or whitespace-separated words. */
export function parseMaybeJSONToList(rest: string): ParsedArgs {
  const list = parseJSONArray(rest);
  return list ? { args: list, json: true } : parseWhitespaceDelimited(rest);
}

/** HEALTHCHECK: a type word (`CMD`, `NONE`, …) followed by an exec- or shell-form command. */
export function parseHealthConfig(rest: string): ParsedArgs {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
  if (sep === 0) return none;
  let next = sep;
  while (next < rest.length && isSpace(rest[next]!)) next++;
  const cmd = parseMaybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}
