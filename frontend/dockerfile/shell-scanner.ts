import { isDigit, isLetter, isSpace } from './go-text.js';
import type { Env, EscapeToken, ShellLexerOptions } from './shell-lexer.js';
import { replacePattern, trimPatternPrefix, trimPatternSuffix } from './shell-pattern.js';

/** A syntax error inside the lexer; converted to WordExpansionError at the public boundary. */
export class LexFailure extends Error {}

/** Pattern helpers report a malformed pattern with a plain Error; it is a lexer failure here. */
function withPattern(fn: () => string): string {
  try {
    return fn();
  } catch (err) {
    throw new LexFailure(err instanceof Error ? err.message : String(err));
  }
}

class Words {
  private word = '';
  private inWord = false;
  readonly list: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.word !== '') {
        this.list.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.addRaw(ch);
    }
  }

  addRaw(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  finish(): string[] {
    if (this.word !== '') {
      this.list.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.list;
  }
}

const specialParams = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** One expansion: BuildKit's shellWord, reading the word rune by rune. */
export class WordScanner {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes = false;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: Env,
    private readonly opts: ShellLexerOptions,
    private readonly escape: EscapeToken,
  ) {
    this.chars = Array.from(word);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    return this.pos < this.chars.length ? this.chars[this.pos++] : undefined;
  }

  processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.scanUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private scanUntil(stop: string | undefined): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    const quotes = !this.opts.skipProcessQuotes;
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.next();
        return { result, words: words.finish() };
      }
      if (ch === '$') {
        const value = this.processDollar();
        result += value;
        words.addString(value);
      } else if (quotes && (ch === "'" || ch === '"')) {
        const value = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        result += value;
        words.addRaw(value);
      } else {
        let c = this.next()!;
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRaw(c);
            result += c;
          }
          const escaped = this.next();
          if (escaped === undefined) break;
          c = escaped;
          words.addRaw(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stop !== undefined)
      throw new LexFailure(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: words.finish() };
  }

  private processSingleQuote(): string {
    const open = this.next()!;
    let result = this.opts.rawQuotes ? open : '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      }
      if (ch === "'") return this.opts.rawQuotes ? result + ch : result;
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    const open = this.next()!;
    let result = this.opts.rawQuotes ? open : '';
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) {
        throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      }
      if (peeked === '"') {
        this.next();
        return this.opts.rawQuotes ? result + '"' : result;
      }
      if (peeked === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next()!;
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escape) ch = this.next()!;
      }
      result += ch;
    }
  }

  private lookup(name: string): string | undefined {
    const value = this.env.get(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':')
      throw new LexFailure('syntax error: bad substitution');
    const name = this.processName();
    const ch = this.next();
    switch (ch) {
      case '}': {
        const value = this.lookup(name);
        if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
        return value ?? '';
      }
      case ':':
        return this.processModifier(name, this.next(), true);
      case '+':
      case '-':
      case '?':
      case '#':
      case '%':
        return this.processModifier(name, ch, false);
      case '/':
        return this.processReplace(name);
      default:
        throw new LexFailure("missing ':' in substitution");
    }
  }

  private wordUntilBrace(rawEscapes: boolean): string {
    try {
      return this.processStopOn('}', rawEscapes).result;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === undefined)
        throw new LexFailure("syntax error: missing '}'");
      throw err;
    }
  }

  private processModifier(name: string, mod: string | undefined, colon: boolean): string {
    const patternMod = mod === '#' || mod === '%';
    if (colon && patternMod) throw new LexFailure(`unsupported modifier (:${mod}) in substitution`);
    let word = this.wordUntilBrace(patternMod);
    const value = this.lookup(name);
    const written = `${colon ? ':' : ''}${mod ?? ''}`;
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}${written}${word}}`;
    const unset = value === undefined || (colon && value === '');
    switch (mod) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw new LexFailure(`${name}: ${word || 'is not allowed to be unset'}`);
        if (unset) throw new LexFailure(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        const greedy = word.startsWith(mod);
        if (greedy) word = word.slice(1);
        const trim = mod === '%' ? trimPatternSuffix : trimPatternPrefix;
        return withPattern(() => trim(word, value ?? '', greedy));
      }
      default:
        throw new LexFailure(`unsupported modifier (${mod ?? '\ufffd'}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).result;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === undefined) {
        throw new LexFailure("syntax error: missing '/' in ${}");
      }
      throw err;
    }
    const replacement = this.wordUntilBrace(true);
    const value = this.lookup(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    return withPattern(() => replacePattern(pattern, value ?? '', replacement, all));
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== undefined && isDigit(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && specialParams.has(ch)) {
        this.next();
        return ch;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}
