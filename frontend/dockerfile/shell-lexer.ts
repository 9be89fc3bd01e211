import { WordExpansionError } from './errors.js';
import { LexFailure, WordScanner } from './shell-scanner.js';

/** The Dockerfile escape character (`# escape=` directive). */
export type EscapeToken = '\\' | '`';

/** Variables visible to an expansion: name → value. A name that is absent is *unset*. */
export type Env = ReadonlyMap<string, string>;

export interface ShellLexerOptions {
  /** Escapes the next character; default `\`. */
  readonly escapeToken?: EscapeToken;
  /** Keep quote characters in the result (quotes still group words and stop expansion). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-d}`) instead of expanding them. */
  readonly skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (used for heredoc bodies). */
  readonly skipProcessQuotes?: boolean;
}

/** The outcome of expanding one word. */
export interface Expansion {
  /** The word with variables substituted and quotes/escapes processed (BuildKit's ProcessWord). */
  readonly result: string;
  /** The same, split into words on unquoted whitespace after substitution (ProcessWords). */
  readonly words: readonly string[];
  /** Variables that were referenced and set. */
  readonly matched: ReadonlySet<string>;
  /** Variables that were referenced but unset. */
  readonly unmatched: ReadonlySet<string>;
}

/** Builds an Env from `K=V` strings; later entries win, a bare `K` means an empty value. */
export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq < 0) env.set(entry, '');
    else env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/**
 * Shell-style word expansion exactly as BuildKit's Dockerfile lexer does it: `$V`, `${V}`,
 * `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`, `${V?m}`, `${V:?m}`, `${V#p}`, `${V##p}`, `${V%p}`,
 * `${V%%p}`, `${V/p/r}`, `${V//p/r}`, single and double quotes, and escapes with the Dockerfile's
 * escape character. It is not a shell: no command substitution, no globbing, no field splitting
 * on IFS. Pure and cheap (linear in the word, plus pattern matching).
 */
export class ShellLexer {
  readonly escapeToken: EscapeToken;
  private readonly opts: ShellLexerOptions;

  constructor(opts: ShellLexerOptions = {}) {
    this.opts = opts;
    this.escapeToken = opts.escapeToken ?? '\\';
  }

  /** Returns a lexer with some options changed. */
  with(opts: ShellLexerOptions): ShellLexer {
    return new ShellLexer({ ...this.opts, ...opts });
  }

  /** Expands `word`. Throws WordExpansionError on a syntax error or a failed `?` check. */
  process(word: string, env: Env): Expansion {
    const scan = new WordScanner(word, env, this.opts, this.escapeToken);
    try {
      const { result, words } = scan.processStopOn(undefined, this.opts.rawEscapes ?? false);
      return { result, words, matched: scan.matched, unmatched: scan.unmatched };
    } catch (err) {
      if (err instanceof LexFailure) throw new WordExpansionError({ word, reason: err.message });
      throw err;
    }
  }

  /** BuildKit's ProcessWord: the expanded word, whitespace kept. */
  processWord(word: string, env: Env): string {
    return this.process(word, env).result;
  }

  /** BuildKit's ProcessWords: the expanded word split on unquoted whitespace. */
  processWords(word: string, env: Env): string[] {
    return [...this.process(word, env).words];
  }
}
