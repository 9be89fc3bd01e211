import { DockerfileError } from '../errors.js';
import { trimLeftSpace, trimSpace } from '../go-text.js';
import type { EscapeToken } from '../shell-lexer.js';
import { DirectiveScanner } from './directives.js';
import { heredocMarkersOfLine } from './heredoc.js';
import {
  type ParsedArgs,
  parseHealthConfig,
  parseMaybeJSON,
  parseMaybeJSONToList,
  parseNameOrNameVal,
  parseNameVal,
  parseString,
  parseWhitespaceDelimited,
} from './line-parsers.js';
import type { Directive, Heredoc, Node, ParseResult, ParseWarning } from './node.js';
import { splitCommand } from './split-command.js';

type LineParser = (rest: string, escape: EscapeToken) => ParsedArgs;

const lineParsers: Record<string, LineParser> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: (rest, escape) => parseNameVal(rest, escape, 'ENV'),
  expose: parseWhitespaceDelimited,
  from: parseWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: (rest, escape) => parseNameVal(rest, escape, 'LABEL'),
  maintainer: parseString,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

const heredocKeywords = new Set(['add', 'copy', 'run']);

/** bufio.Scanner's default limit, which BuildKit inherits. */
const maxLineBytes = 64 * 1024;

class Lines {
  private readonly tokens: string[] = [];
  private index = 0;
  tooLong = false;

  constructor(text: string) {
    for (let start = 0; start < text.length;) {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl + 1;
      this.tokens.push(text.slice(start, end));
      start = end;
    }
  }

  /** The next raw line with its line ending, or undefined at the end (or past an over-long line). */
  next(): string | undefined {
    const token = this.tokens[this.index];
    if (token === undefined || this.tooLong) return undefined;
    if (token.length * 3 > maxLineBytes && Buffer.byteLength(token, 'utf8') > maxLineBytes) {
      this.tooLong = true;
      return undefined;
    }
    this.index++;
    return token;
  }
}

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
const isComment = (raw: string): boolean => trimLeftSpace(trimNewline(raw)).startsWith('#');

class Parser {
  escape: EscapeToken = '\\';
  private continuation = continuationPattern('\\');
  private readonly scanner = new DirectiveScanner();
  readonly directives: Directive[] = [];

  /** Normalises a raw line: newline off, optional left trim, directive check, comment removal. */
  processLine(raw: string, stripLeft: boolean, line: number): string {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    const directive = this.scanner.scan(token, line);
    if (directive) {
      this.directives.push(directive);
      if (directive.name === 'escape') this.setEscape(directive.value, line);
    }
    return token.startsWith('#') ? '' : token;
  }

  private setEscape(value: string, line: number): void {
    if (value !== '`' && value !== '\\') {
      throw new DockerfileError({
        reason: `invalid escape token '${value}' does not match \` or \\`,
        startLine: line,
      });
    }
    this.escape = value;
    this.continuation = continuationPattern(value);
  }

  /** Removes a trailing escape character; the boolean says whether the logical line ends here. */
  trimContinuation(line: string): [string, boolean] {
    if (!this.continuation.test(line)) return [line, true];
    return [line.replace(this.continuation, '$1'), false];
  }

  nodeFromLine(line: string, comments: readonly string[], start: number, end: number): Node {
    const { command, flags, args } = splitCommand(line);
    const keyword = command.toLowerCase();
    const base = {
      value: command,
      original: line,
      flags,
      heredocs: [],
      comments,
      startLine: start,
      endLine: end,
    };
    if (keyword === 'onbuild') {
      if (args === '') return { ...base, args: [], json: false };
      return { ...base, args: [], json: false, child: this.nodeFromLine(args, [], start, end) };
    }
    const parse = lineParsers[keyword];
    if (!parse) return { ...base, args: [''], json: false };
    return { ...base, ...parse(args, this.escape) };
  }
}

function continuationPattern(escape: EscapeToken): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

function canContainHeredoc(node: Node): boolean {
  const target = node.value.toLowerCase() === 'onbuild' && node.child ? node.child : node;
  return heredocKeywords.has(target.value.toLowerCase()) && !target.json;
}

function located(err: unknown, start: number, end: number): DockerfileError {
  if (err instanceof DockerfileError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new DockerfileError({ reason, startLine: start, endLine: end, cause: err });
}

/**
 * Parses a Dockerfile into instruction nodes exactly as BuildKit v0.11.6 does: parser directives
 * (syntax, escape, check) on the first lines, comments, line continuations with the escape
 * character (comment lines and empty lines inside a continuation are skipped, the latter with a
 * warning), heredocs on RUN/COPY/ADD (also under ONBUILD), JSON and shell forms. Unknown keywords
 * are kept (the instruction layer rejects them). Pure; linear in the input.
 *
 * Throws DockerfileError (with the offending lines) for a bad directive, malformed arguments
 * (`ENV must have two arguments`, a JSON array of non-strings, …), an unterminated heredoc, a line
 * over 64 KiB, or a file without instructions.
 */
export function parseDockerfile(source: string | Uint8Array): ParseResult {
  let text = typeof source === 'string' ? source : new TextDecoder().decode(source);
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const lines = new Lines(text);
  const p = new Parser();
  const nodes: Node[] = [];
  const warnings: ParseWarning[] = [];
  const cursor = { line: 0 };
  let comments: string[] = [];

  for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
    if (isComment(raw)) {
      const comment = trimSpace(raw.slice(1));
      comments = comment === '' ? [] : [...comments, comment];
    }
    const first = p.processLine(raw, true, cursor.line + 1);
    const start = ++cursor.line;
    let [line, ended] = p.trimContinuation(first);
    if (ended && line === '') continue;

    let emptyContinuation = false;
    while (!ended) {
      const next = lines.next();
      if (next === undefined) break;
      const processed = p.processLine(next, false, cursor.line + 1);
      cursor.line++;
      if (isComment(next)) continue;
      if (trimLeftSpace(trimNewline(processed)) === '') {
        emptyContinuation = true;
        continue;
      }
      const [part, end] = p.trimContinuation(processed);
      line += part;
      ended = end;
    }
    if (emptyContinuation) {
      warnings.push({
        short: `Empty continuation line found in: ${line}`,
        detail: ['Empty continuation lines will become errors in a future release'],
        url: 'https://github.com/moby/moby/pull/33719',
        line: cursor.line,
      });
    }

    let node: Node;
    try {
      node = p.nodeFromLine(line, comments, start, cursor.line);
    } catch (err) {
      throw located(err, start, cursor.line);
    }
    if (canContainHeredoc(node)) node = { ...node, heredocs: readHeredocs(line, lines, start, cursor) };
    nodes.push({ ...node, endLine: cursor.line });
    comments = [];
  }

  if (lines.tooLong) {
    throw new DockerfileError({
      reason: `dockerfile line greater than max allowed size of ${maxLineBytes - 1}`,
      startLine: cursor.line,
    });
  }
  if (nodes.length === 0)
    throw new DockerfileError({ reason: 'file with no instructions', startLine: cursor.line });
  return { nodes, escapeToken: p.escape, directives: p.directives, warnings };
}

function readHeredocs(line: string, lines: Lines, start: number, cursor: { line: number }): Heredoc[] {
  let markers;
  try {
    markers = heredocMarkersOfLine(line);
  } catch (err) {
    throw located(err, start, cursor.line);
  }
  const docs: Heredoc[] = [];
  for (const marker of markers) {
    let content = '';
    let terminated = false;
    for (let raw = lines.next(); raw !== undefined; raw = lines.next()) {
      cursor.line++;
      let candidate = trimNewline(raw);
      if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
      if (candidate === marker.name) {
        terminated = true;
        break;
      }
      content += raw;
    }
    if (!terminated) {
      throw new DockerfileError({ reason: 'unterminated heredoc', startLine: start, endLine: cursor.line });
    }
    docs.push({ ...marker, content });
  }
  return docs;
}
