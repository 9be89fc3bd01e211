import { goQuote, goQuoteList, trimSpace } from '../go-text.js';
import type { EscapeToken } from '../shell-lexer.js';

/** An inline document (`RUN <<EOF … EOF`). */
export interface Heredoc {
  /** The terminator word with quotes removed, e.g. `EOF` for `<<'EOF'`. */
  readonly name: string;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when absent. */
  readonly fileDescriptor: number;
  /** False when any part of the terminator word was quoted: the body is then taken literally. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from the body and the terminator line. */
  readonly chomp: boolean;
  /** The raw body, every line with its line ending, tabs not yet stripped. */
  readonly content: string;
}

/**
 * One Dockerfile instruction as the parser sees it: the keyword, its `--flags`, and its arguments
 * split by the instruction's line parser (JSON arrays, `k=v` pairs, whitespace-separated words or
 * one raw string). Quotes in shell-form arguments are still present; the instruction layer and the
 * word expansion remove them.
 */
export interface Node {
  /** The keyword as written (`RUN`, `run`, `Run`). */
  readonly value: string;
  /** Arguments in order. ENV/LABEL give key, value, key, value…; an unknown keyword gives `['']`. */
  readonly args: readonly string[];
  /** ONBUILD's trigger instruction (the node has no `args` then). */
  readonly child?: Node;
  /** `--flag[=value]` words before the arguments, as written. */
  readonly flags: readonly string[];
  /** The arguments were given as a JSON array (exec form). */
  readonly json: boolean;
  /** The logical line (continuations joined, comments removed) the node was parsed from. */
  readonly original: string;
  /** Inline documents attached to RUN, COPY and ADD (also inside ONBUILD). */
  readonly heredocs: readonly Heredoc[];
  /** `#` comment lines directly above the instruction (used for stage and ARG descriptions). */
  readonly comments: readonly string[];
  /** First and last line (1-based, inclusive) including continuations and heredoc bodies. */
  readonly startLine: number;
  readonly endLine: number;
}

/** A parser directive from the top of the file (`# syntax=…`, `# escape=…`, `# check=…`). */
export interface Directive {
  readonly name: 'syntax' | 'escape' | 'check';
  readonly value: string;
  readonly line: number;
}

/** A non-fatal finding of the parser, e.g. an empty continuation line. */
export interface ParseWarning {
  readonly short: string;
  readonly detail: readonly string[];
  readonly url: string;
  readonly line: number;
}

/** The outcome of parsing a Dockerfile. */
export interface ParseResult {
  /** The instructions in file order. */
  readonly nodes: readonly Node[];
  readonly escapeToken: EscapeToken;
  readonly directives: readonly Directive[];
  readonly warnings: readonly ParseWarning[];
}

/** The arguments of a node as the instruction layer reads them: ONBUILD yields the trigger's keyword first. */
export function nodeArgs(node: Node): string[] {
  return node.child ? [node.child.value, ...nodeArgs(node.child)] : [...node.args];
}

/**
 * BuildKit's AST dump (`(run ["--mount=…"] "echo hi")`), one node per line. Kept byte-compatible
 * with BuildKit v0.11.6 so its parser test corpus can be compared verbatim.
 */
export function dumpNodes(nodes: readonly Node[]): string {
  return nodes.map((n) => `(${dumpNode(n)})\n`).join('');
}

function dumpNode(node: Node): string {
  let out = node.value.toLowerCase();
  if (node.flags.length > 0) out += ` ${goQuoteList(node.flags)}`;
  if (node.child) out += ` (${dumpNode(node.child)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  return trimSpace(out);
}
