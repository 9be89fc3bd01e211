import { DockerfileError } from '../errors.js';
import { goQuote } from '../go-text.js';
import type { Directive } from './node.js';

const names = new Set<Directive['name']>(['syntax', 'escape', 'check']);
const ws = '[\\t\\n\\f\\r ]';

/**
 * Recognises parser directives line by line. Directives are only honoured on the first lines of
 * the file: the first line that is not a known `# key=value` (a blank line, an ordinary comment,
 * an unknown key, an instruction) ends the directive section for good.
 */
export class DirectiveScanner {
  private done = false;
  private readonly seen = new Set<string>();
  private readonly pattern: RegExp;

  constructor(opts: { comment?: '#' | '//' } = {}) {
    const comment = opts.comment === '//' ? '//' : '#';
    this.pattern = new RegExp(`^${comment}${ws}*([a-zA-Z][a-zA-Z0-9]*)${ws}*=${ws}*([^\\n]+?)${ws}*$`);
  }

  /** Returns the directive on `text` (line ending already removed), if any. Throws DockerfileError on a repeat. */
  scan(text: string, line: number): Directive | undefined {
    if (this.done) return undefined;
    const m = this.pattern.exec(text);
    const name = m?.[1]!.toLowerCase() as Directive['name'] | undefined;
    if (!m || name === undefined || !names.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) {
      throw new DockerfileError({ reason: `only one ${name} parser directive can be used`, startLine: line });
    }
    this.seen.add(name);
    return { name, value: m[2]!, line };
  }
}

/** The `# syntax=` frontend image of a Dockerfile. */
export interface SyntaxDirective {
  /** The image reference (the first word of the value). */
  readonly image: string;
  /** The whole value, which may carry arguments after the image. */
  readonly cmdline: string;
  /** 1-based line, or 0 when it came from a JSON document. */
  readonly line: number;
}

/**
 * Finds the `syntax` directive the way BuildKit does before parsing: `# syntax=`, then the C-style
 * `// syntax=`, then a JSON document `{"syntax": "…"}`; a leading `#!` line is skipped. Cheap: it
 * reads only the directive lines.
 */
export function detectSyntax(source: string): SyntaxDirective | undefined {
  let text = source;
  let first = 0;
  const nl = text.indexOf('\n');
  const head = nl < 0 ? text : text.slice(0, nl);
  if (head.startsWith('#!')) {
    text = nl < 0 ? '' : text.slice(nl + 1);
    first = 1;
  }
  for (const comment of ['#', '//'] as const) {
    const scanner = new DirectiveScanner({ comment });
    const lines = text.split('\n');
    for (const [i, raw] of lines.entries()) {
      if (i === lines.length - 1 && raw === '') break;
      let found: Directive | undefined;
      try {
        found = scanner.scan(raw.replace(/\r$/, ''), first + i + 1);
      } catch {
        break;
      }
      if (found?.name === 'syntax') {
        return { image: found.value.split(' ')[0]!, cmdline: found.value, line: found.line };
      }
      if (!found) break;
    }
  }
  try {
    const doc: unknown = JSON.parse(text);
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      // Go's encoding/json matches field names case-insensitively when there is no exact match.
      const fields = doc as Record<string, unknown>;
      const key =
        'syntax' in fields ? 'syntax' : Object.keys(fields).find((k) => k.toLowerCase() === 'syntax');
      const syntax = key === undefined ? undefined : fields[key];
      if (typeof syntax === 'string' && syntax !== '') return { image: syntax, cmdline: syntax, line: first };
    }
  } catch {
    // not JSON: no syntax directive
  }
  return undefined;
}

/** The `# check=` directive: which build checks to skip and whether findings fail the build. */
export interface CheckDirective {
  readonly skip: readonly string[] | 'all';
  readonly experimental: readonly string[] | 'all';
  readonly error: boolean;
}

const goBool = new Map<string, boolean>([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((s): [string, boolean] => [s, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((s): [string, boolean] => [s, false]),
]);

/**
 * Parses a `check` directive's value (`skip=A,B;error=true;experimental=all`). Throws
 * DockerfileError (at the directive's line) with BuildKit's messages.
 */
export function parseCheckDirective(directive: Pick<Directive, 'value' | 'line'>): CheckDirective {
  const fail = (reason: string): DockerfileError =>
    new DockerfileError({ reason, startLine: directive.line });
  const value = directive.value;
  let skip: string[] | 'all' = [];
  let experimental: string[] | 'all' = [];
  let error = false;
  const text = value.trim();
  if (text === '') return { skip, experimental, error };
  const parts = text.split(';');
  const limited = parts.length > 3 ? [...parts.slice(0, 2), parts.slice(2).join(';')] : parts;
  for (const part of limited) {
    const eq = part.indexOf('=');
    if (eq < 0) throw fail(`invalid check option ${goQuote(part)}`);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const list = (): string[] | 'all' => (v === 'all' ? 'all' : v.split(',').map((r) => r.trim()));
    if (key === 'skip') skip = list();
    else if (key === 'experimental') experimental = list();
    else if (key === 'error') {
      const b = goBool.get(v);
      if (b === undefined) {
        throw fail(
          `failed to parse check option ${goQuote(part)}: strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`,
        );
      }
      error = b;
    } else throw fail(`invalid check option ${goQuote(key)}`);
  }
  return { skip, experimental, error };
}
