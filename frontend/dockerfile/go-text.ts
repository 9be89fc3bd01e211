/**
 * Text primitives with Go's semantics. BuildKit's frontend is written in Go, and several
 * user-visible strings (AST dumps, image history `created_by`, split points of words) depend on
 * exactly how Go classifies whitespace and quotes strings, so we reproduce those rules here.
 */

/** Go's `unicode.IsSpace`: Latin-1 spaces plus the Unicode White_Space property (no U+FEFF). */
export function isSpace(ch: string): boolean {
  const c = ch.codePointAt(0);
  if (c === undefined) return false;
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i]!)) i++;
  return s.slice(i);
}

/** Go's `strings.TrimSpace`. */
export function trimSpace(s: string): string {
  let end = s.length;
  while (end > 0 && isSpace(s[end - 1]!)) end--;
  return trimLeftSpace(s.slice(0, end));
}

/** Go's `unicode.IsDigit`. */
export function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

/** Go's `unicode.IsLetter`. */
export function isLetter(ch: string): boolean {
  return /^\p{L}$/u.test(ch);
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's `strconv.Quote`: double-quoted, with Go escapes for control and non-printable runes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (printable.test(ch)) out += ch;
    else if (c < 0x80) out += `\\x${hex(c, 2)}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else if (c < 0x10000) out += `\\u${hex(c, 4)}`;
    else out += `\\U${hex(c, 8)}`;
  }
  return out + '"';
}

/** Go's `fmt.Sprintf("%q", []string{…})`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

/** Go's `fmt.Sprintf("%v", []string{…})`: `[a b]`. */
export function goFormatList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

/** Go's `fmt.Sprintf("%q", int)`: a single-quoted rune literal, e.g. `'\x03'`. */
export function goQuoteRune(n: number): string {
  if (n === 0x27) return "'\\''";
  if (n === 0x5c) return "'\\\\'";
  const escapes: Record<number, string> = { 7: 'a', 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r' };
  if (escapes[n] !== undefined) return `'\\${escapes[n]}'`;
  if (n < 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return "'\\ufffd'";
  const ch = String.fromCodePoint(n);
  if (printable.test(ch)) return `'${ch}'`;
  if (n < 0x80) return `'\\x${hex(n, 2)}'`;
  if (n < 0x10000) return `'\\u${hex(n, 4)}'`;
  return `'\\U${hex(n, 8)}'`;
}

const units: [string, number][] = [
  ['h', 3600e9],
  ['m', 60e9],
];

/** Go's `time.Duration.String()` for a duration in nanoseconds, e.g. `1m30s`, `500ms`, `0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = fraction(u, div) + unit;
  } else {
    out = '';
    for (const [unit, size] of units) {
      if (u >= size || out !== '') {
        out += `${Math.floor(u / size)}${unit}`;
        u %= size;
      }
    }
    out += `${fraction(u, 1e9)}s`;
  }
  return neg ? `-${out}` : out;
}

function fraction(value: number, div: number): string {
  const whole = Math.floor(value / div);
  const rest = value % div;
  if (rest === 0) return String(whole);
  const digits = String(div).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

const durationUnits: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's `time.ParseDuration`, in nanoseconds. Throws Error(`time: invalid duration "x"`) like Go
 * (the message is what BuildKit shows for a bad HEALTHCHECK interval).
 */
export function parseGoDuration(s: string): number {
  const invalid = (): Error => new Error(`time: invalid duration ${goQuote(s)}`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    const [whole = '', frac] = [m[1], m[2]];
    if (whole === '' && (frac === undefined || frac === '')) throw invalid();
    rest = rest.slice(m[0].length);
    const u = /^[^\d.]+/.exec(rest);
    if (!u) throw new Error(`time: missing unit in duration ${goQuote(s)}`);
    const scale = durationUnits[u[0]];
    if (scale === undefined) throw new Error(`time: unknown unit ${goQuote(u[0])} in duration ${goQuote(s)}`);
    rest = rest.slice(u[0].length);
    total += Number(whole || '0') * scale;
    if (frac) total += Math.round(Number(`0.${frac}`) * scale);
  }
  return sign * total;
}
