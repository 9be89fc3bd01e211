import { posix } from 'node:path';

/**
 * Path patterns with `.dockerignore` / fsutil semantics (the moby/patternmatcher rules):
 * gitignore-like globs over slash-separated paths relative to a root; `*` and `?` never cross a
 * `/`; `**` crosses any number of directories; `[…]` classes; `\` escapes; a leading `!` makes
 * an exception that re-includes what earlier patterns matched. Later patterns win. A pattern that
 * matches a directory also matches everything below it.
 */

/** A malformed pattern (for example an unclosed `[` or a lone `!`). */
export class PatternError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_LLB_PATTERN' as const;
  readonly pattern: string;
  constructor(options: { pattern: string; reason: string }) {
    super(`invalid pattern ${JSON.stringify(options.pattern)}: ${options.reason}`);
    this.name = 'PatternError';
    this.pattern = options.pattern;
  }
}

/** Go's path.Clean: no `.` elements, `..` resolved where possible, no doubled or trailing slash. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const normalised = posix.normalize(path);
  return normalised.length > 1 && normalised.endsWith('/') ? normalised.slice(0, -1) : normalised;
}

/**
 * The patterns of a `.dockerignore` file, as BuildKit's Dockerfile frontend reads them: `#`
 * comment lines and blank lines dropped, whitespace trimmed, each pattern cleaned and a leading
 * `/` removed (`!` kept in front).
 */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** One compiled pattern. */
export class Pattern {
  /** The cleaned pattern without its `!`. */
  readonly text: string;
  /** Whether this is an exception (`!pattern`). */
  readonly exclusion: boolean;
  private readonly type: MatchType;
  private readonly regexp: RegExp | undefined;

  constructor(text: string, exclusion: boolean) {
    this.text = text;
    this.exclusion = exclusion;
    validateGlob(text);
    const { type, source } = compile(text);
    this.type = type;
    try {
      this.regexp = source === undefined ? undefined : new RegExp(source);
    } catch (err) {
      throw new PatternError({ pattern: text, reason: (err as Error).message });
    }
  }

  /** Whether `path` (clean, relative, slash-separated) matches this pattern itself. */
  match(path: string): boolean {
    switch (this.type) {
      case 'exact':
        return path === this.text;
      case 'prefix':
        return path.startsWith(this.text.slice(0, -2));
      case 'suffix': {
        const suffix = this.text.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      case 'regexp':
        return (this.regexp as RegExp).test(path);
    }
  }

  /** The pattern without a trailing `/**` or `/*` (fsutil uses it to decide whether to descend). */
  withoutTrailingGlob(): string {
    let text = this.text;
    if (text.endsWith('/**')) text = text.slice(0, -3);
    if (text.endsWith('/*')) text = text.slice(0, -2);
    return text;
  }
}

/** Per-pattern results for a directory, handed to its children (see matchWithParent). */
export type MatchInfo = readonly boolean[];

/** An ordered list of patterns; the last pattern that matches decides. */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any pattern is an exception (`!`). */
  readonly hasExclusions: boolean;

  /** Throws PatternError for a malformed pattern. Blank patterns are ignored. */
  constructor(patterns: readonly string[]) {
    const compiled: Pattern[] = [];
    for (const raw of patterns) {
      let text = raw.trim();
      if (text === '') continue;
      text = cleanPath(text);
      let exclusion = false;
      if (text.startsWith('!')) {
        if (text.length === 1)
          throw new PatternError({ pattern: raw, reason: 'an exception needs a pattern after "!"' });
        exclusion = true;
        text = text.slice(1);
      }
      compiled.push(new Pattern(text, exclusion));
    }
    this.patterns = compiled;
    this.hasExclusions = compiled.some((p) => p.exclusion);
  }

  /** Whether `path` or one of its parent directories is matched (and not re-included). */
  matches(path: string): boolean {
    return this.matchWithParent(cleanPath(path), undefined).matched;
  }

  /**
   * Matching during a walk: `parent` is the info returned for the parent directory (undefined at
   * the top, or when unknown: then the parents are checked from the path). Returns whether the
   * path is matched and the info to hand to its children.
   */
  matchWithParent(path: string, parent: MatchInfo | undefined): { matched: boolean; info: MatchInfo } {
    const info: boolean[] = new Array<boolean>(this.patterns.length).fill(false);
    let matched = false;
    for (let i = 0; i < this.patterns.length; i++) {
      const pattern = this.patterns[i] as Pattern;
      let match = parent?.[i] ?? false;
      if (!match) {
        if (pattern.exclusion !== matched) continue;
        match = pattern.match(path);
        if (!match && !parent?.length) match = parentMatches(pattern, path);
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    }
    return { matched, info };
  }
}

function parentMatches(pattern: Pattern, path: string): boolean {
  let slash = path.indexOf('/');
  while (slash >= 0) {
    if (pattern.match(path.slice(0, slash))) return true;
    slash = path.indexOf('/', slash + 1);
  }
  return false;
}

/** What a walker does with one path. */
export interface FilterDecision {
  /** Send / copy this entry. */
  keep: boolean;
  /** For directories: walk into it (its children may be kept even when it is not). */
  descend: boolean;
  /** Hand to check() for each child. */
  state: FilterState;
}

export interface FilterState {
  include: MatchInfo | undefined;
  exclude: MatchInfo | undefined;
}

const PATTERN_CHARS = /[*[\]?^\\]/;

/**
 * The include/exclude decision of fsutil's walker (used for `--local` contexts, FileSync and
 * FileOp copies). A directory that is excluded is still walked when an exception could re-include
 * something below it; a kept child makes the walker emit its skipped parents first.
 */
export class PathFilter {
  private readonly include: PatternMatcher | undefined;
  private readonly exclude: PatternMatcher | undefined;
  private readonly onlyPrefixIncludes: boolean;
  private readonly onlyPrefixExceptions: boolean;

  /** Throws PatternError. Empty pattern lists filter nothing. */
  constructor(options: { includePatterns?: readonly string[]; excludePatterns?: readonly string[] }) {
    this.include = options.includePatterns?.length ? new PatternMatcher(options.includePatterns) : undefined;
    this.exclude = options.excludePatterns?.length ? new PatternMatcher(options.excludePatterns) : undefined;
    this.onlyPrefixIncludes = !(this.include?.patterns ?? []).some(
      (p) => !p.exclusion && PATTERN_CHARS.test(p.withoutTrailingGlob()),
    );
    this.onlyPrefixExceptions = !(this.exclude?.patterns ?? []).some(
      (p) => p.exclusion && PATTERN_CHARS.test(p.withoutTrailingGlob()),
    );
  }

  /** Whether the filter lets everything through. */
  get empty(): boolean {
    return !this.include && !this.exclude;
  }

  /** Decides for `path` (relative, clean) given its parent directory's state (undefined at the top). */
  check(path: string, isDir: boolean, parent: FilterState | undefined): FilterDecision {
    const state: FilterState = { include: undefined, exclude: undefined };
    let keep = true;
    if (this.include) {
      const { matched, info } = this.include.matchWithParent(path, parent?.include);
      state.include = info;
      if (!matched) {
        if (isDir && this.onlyPrefixIncludes && !couldContain(this.include, path, false)) {
          return { keep: false, descend: false, state };
        }
        keep = false;
      }
    }
    if (this.exclude) {
      const { matched, info } = this.exclude.matchWithParent(path, parent?.exclude);
      state.exclude = info;
      if (matched) {
        if (
          isDir &&
          this.onlyPrefixExceptions &&
          (!this.exclude.hasExclusions || !couldContain(this.exclude, path, true))
        ) {
          return { keep: false, descend: false, state };
        }
        keep = false;
      }
    }
    return { keep, descend: isDir, state };
  }
}

/** Whether some (exception, if `exceptions`) pattern names a path inside directory `dir`. */
function couldContain(matcher: PatternMatcher, dir: string, exceptions: boolean): boolean {
  const dirSlash = `${dir}/`;
  return matcher.patterns.some(
    (p) => p.exclusion === exceptions && `${p.withoutTrailingGlob()}/`.startsWith(dirSlash),
  );
}

/** Translates a pattern to a regular expression the way patternmatcher does. */
function compile(pattern: string): { type: MatchType; source: string | undefined } {
  const chars = Array.from(pattern);
  let source = '^';
  let type: MatchType = 'exact';
  let pos = 0;
  for (let i = 0; pos < chars.length; i++) {
    const ch = chars[pos++] as string;
    if (ch === '*') {
      if (chars[pos] === '*') {
        pos++;
        if (chars[pos] === '/') pos++;
        if (pos >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            source += '.*';
            type = 'regexp';
          }
        } else {
          source += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        source += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      source += '[^/]';
      type = 'regexp';
    } else if ('.+()|{}$'.includes(ch)) {
      source += `\\${ch}`;
    } else if (ch === '\\') {
      if (pos < chars.length) {
        source += literal(chars[pos++] as string);
        type = 'regexp';
      } else source += '\\\\';
    } else if (ch === '[' || ch === ']') {
      source += ch;
      type = 'regexp';
    } else {
      source += ch;
    }
  }
  return { type, source: type === 'regexp' ? `${source}$` : undefined };
}

/** A character as a regex literal, valid inside and outside a class. */
function literal(ch: string): string {
  let out = '';
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** Rejects what Go's filepath.Match rejects: unclosed or empty classes, bad ranges, a trailing `\`. */
function validateGlob(pattern: string): void {
  const chars = Array.from(pattern);
  const bad = (reason: string): never => {
    throw new PatternError({ pattern, reason });
  };
  let i = 0;
  const escaped = (): string => {
    if (i >= chars.length || chars[i] === '-' || chars[i] === ']') bad('malformed character class');
    if (chars[i] === '\\') {
      i++;
      if (i >= chars.length) bad('trailing "\\" in a character class');
    }
    const ch = chars[i++] as string;
    if (i >= chars.length) bad('unclosed character class');
    return ch;
  };
  while (i < chars.length) {
    const ch = chars[i++];
    if (ch === '\\') {
      if (i >= chars.length) bad('trailing "\\"');
      i++;
    } else if (ch === '[') {
      if (chars[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (i >= chars.length) bad('unclosed character class');
        if (chars[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        const lo = escaped();
        if (chars[i] === '-') {
          i++;
          const hi = escaped();
          if ((hi.codePointAt(0) ?? 0) < (lo.codePointAt(0) ?? 0))
            bad(`character range ${lo}-${hi} is reversed`);
        }
        ranges++;
      }
    }
  }
}

/**
 * Applies a PathFilter to a listing in walk order (byte-sorted names, each directory before its
 * contents), the way fsutil's walker does: directories the filter does not descend into drop
 * their subtree, and a kept entry brings its not-yet-kept parent directories in first.
 * Returns the kept paths in order.
 */
export function selectPaths(
  entries: Iterable<{ path: string; isDir: boolean }>,
  filter: PathFilter,
): string[] {
  const out: string[] = [];
  const stack: { path: string; state: FilterState; kept: boolean }[] = [];
  let skipping: string | undefined;
  for (const { path, isDir } of entries) {
    if (skipping !== undefined && path.startsWith(`${skipping}/`)) continue;
    skipping = undefined;
    while (stack.length > 0 && !path.startsWith(`${(stack[stack.length - 1] as { path: string }).path}/`))
      stack.pop();
    const parent = stack[stack.length - 1];
    const decision = filter.check(path, isDir, parent?.state);
    if (decision.keep) {
      for (const dir of stack) {
        if (dir.kept) continue;
        dir.kept = true;
        out.push(dir.path);
      }
      out.push(path);
    }
    if (isDir) {
      if (decision.descend) stack.push({ path, state: decision.state, kept: decision.keep });
      else skipping = path;
    }
  }
  return out;
}
