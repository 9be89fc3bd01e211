/**
 * Shell wildcard patterns of `${V#p}`, `${V%p}` and `${V/p/r}`, with the semantics of BuildKit's
 * lexer: `*` and `?` are wildcards, a backslash escapes `*`, `?` or itself (and disappears in front
 * of `}` and `/`), bracket expressions are not supported. Matching is regular-expression based and
 * leftmost-first, like Go's `regexp`; the suffix forms reverse pattern and value to search from
 * the start, exactly as BuildKit does, so corner cases agree.
 */

const regexSpecial = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/**
 * Compiles a shell pattern; `.` in Go never matches a newline, so wildcards exclude only `\n`.
 * Throws a plain Error (`invalid pattern (p) in substitution: …`) that the lexer wraps.
 */
export function patternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      out += greedy ? '[^\\n]*' : '[^\\n]*?';
    } else if (ch === '?') {
      out += '[^\\n]';
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new Error(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? '\ufffd'}'`,
        );
      }
      out += `\\${next}`;
      i++;
    } else {
      out += regexSpecial.has(ch) ? `\\${ch}` : ch;
    }
  }
  return new RegExp(out, 'gu');
}

/** `${V#p}` / `${V##p}`: removes the shortest (longest if greedy) matching prefix. */
export function trimPatternPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = patternToRegExp(pattern, greedy, true);
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** `${V%p}` / `${V%%p}`: removes the shortest (longest if greedy) matching suffix. */
export function trimPatternSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPatternPrefix(reversePattern(pattern), reverse(value), greedy));
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** Reverses a pattern keeping each `\x` escape pair in order (`a\*c` → `c\*a`). */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last;) {
    const at = last - i;
    if (chars[i] === '\\' && i !== last) {
      out[at - 1] = '\\';
      out[at] = chars[i + 1]!;
      i += 2;
    } else {
      out[at] = chars[i]!;
      i++;
    }
  }
  return out.join('');
}

/**
 * `${V/p/r}` and `${V//p/r}`. The first form splices `r` in literally; the second behaves like Go's
 * `Regexp.ReplaceAllString`, so `$0`/`${0}` in `r` insert the match, other `$name`s insert nothing
 * and `$$` is a dollar, and an empty match right after a previous match is not replaced.
 */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const re = patternToRegExp(pattern, true, false);
  if (!all) {
    const m = re.exec(value);
    return m ? value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length) : value;
  }
  let out = '';
  let lastEnd = 0;
  let search = 0;
  while (search <= value.length) {
    re.lastIndex = search;
    const m = re.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastEnd, start);
    if (end > lastEnd || start === 0) out += expandTemplate(replacement, m[0]);
    lastEnd = end;
    const width = search < value.length ? (value.codePointAt(search)! > 0xffff ? 2 : 1) : 1;
    search = search + width > end ? search + width : end;
  }
  return out + value.slice(lastEnd);
}

function expandTemplate(template: string, match: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const at = rest.indexOf('$');
    if (at < 0) break;
    out += rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = /^(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(rest);
    if (!ref) {
      out += '$';
      continue;
    }
    rest = rest.slice(ref[0].length);
    const name = ref[1] ?? ref[2]!;
    if (name === '0') out += match;
  }
  return out + rest;
}
