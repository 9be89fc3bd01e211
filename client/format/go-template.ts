import { ClientUsageError } from '../errors.js';
import { GoDuration, GoMap, GoNilSlice, GoStruct, GoTime, goJson } from './go-json.js';

/**
 * A small subset of Go's text/template, enough for `--format` as people use it with buildctl:
 * text, `{{.Field.Sub}}`, `{{.}}`, string literals, `{{json X}}`, `{{len X}}`, `{{range X}}…{{end}}`,
 * `{{if X}}…{{else}}…{{end}}`, and `{{-`/`-}}` trimming. The alias `json` means `{{json .}}`.
 */

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: string }
  | { kind: 'range' | 'if'; pipeline: string; body: Node[]; otherwise: Node[] };

function fail(message: string): never {
  throw new ClientUsageError({ option: '--format', message: `template: ${message}` });
}

function tokenize(source: string): Array<{ text: string } | { action: string }> {
  const out: Array<{ text: string } | { action: string }> = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      out.push({ text: source.slice(i) });
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    out.push({ text });
    const close = source.indexOf('}}', start);
    if (close < 0) fail('unclosed action');
    let action = source.slice(start, close);
    i = close + 2;
    if (/\s-$/.test(action)) {
      action = action.slice(0, -1);
      const m = /^\s*/.exec(source.slice(i))!;
      i += m[0].length;
    }
    out.push({ action: action.trim() });
  }
  return out;
}

function parse(tokens: Array<{ text: string } | { action: string }>): Node[] {
  let pos = 0;
  const block = (): { nodes: Node[]; end: 'end' | 'else' | 'eof' } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if ('text' in t) {
        if (t.text) nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const a = t.action;
      if (a === 'end') return { nodes, end: 'end' };
      if (a === 'else') return { nodes, end: 'else' };
      const m = /^(range|if)\s+(.*)$/.exec(a);
      if (m) {
        const body = block();
        let otherwise: Node[] = [];
        if (body.end === 'else') {
          const rest = block();
          if (rest.end !== 'end') fail(`unexpected EOF in ${m[1]}`);
          otherwise = rest.nodes;
        } else if (body.end !== 'end') fail(`unexpected EOF in ${m[1]}`);
        nodes.push({ kind: m[1] as 'range' | 'if', pipeline: m[2]!, body: body.nodes, otherwise });
        continue;
      }
      if (a.startsWith('/*')) continue;
      nodes.push({ kind: 'action', pipeline: a });
    }
    return { nodes, end: 'eof' };
  };
  const top = block();
  if (top.end !== 'eof') fail(`unexpected {{${top.end}}}`);
  return top.nodes;
}

function field(value: unknown, name: string): unknown {
  if (value instanceof GoStruct) {
    const f = value.get(name);
    if (!f) fail(`can't evaluate field ${name}`);
    return f.value;
  }
  if (value instanceof GoMap) return value.entries[name];
  if (value && typeof value === 'object' && !Array.isArray(value))
    return (value as Record<string, unknown>)[name];
  return fail(`can't evaluate field ${name} in type ${typeof value}`);
}

function operand(token: string, dot: unknown): unknown {
  if (token === '.') return dot;
  if (token.startsWith('"')) return JSON.parse(token) as string;
  if (token.startsWith('`')) return token.slice(1, -1);
  if (/^-?\d+$/.test(token)) return Number(token);
  if (token === 'true' || token === 'false') return token === 'true';
  if (token.startsWith('.'))
    return token
      .slice(1)
      .split('.')
      .reduce<unknown>((v, name) => field(v, name), dot);
  return fail(`function "${token}" not defined`);
}

function splitArgs(pipeline: string): string[] {
  return pipeline.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g) ?? [];
}

function evaluate(pipeline: string, dot: unknown): unknown {
  const [head, ...args] = splitArgs(pipeline);
  if (head === undefined) fail('missing value for command');
  if (head === 'json')
    return goJson(operand(args[0] ?? fail('wrong number of args for json'), dot), { escapeHtml: false });
  if (head === 'len') {
    const v = operand(args[0] ?? fail('wrong number of args for len'), dot);
    if (v instanceof GoNilSlice) return 0;
    if (Array.isArray(v) || typeof v === 'string') return v.length;
    if (v instanceof GoMap) return Object.keys(v.entries).length;
    return fail(`len of ${typeof v}`);
  }
  if (args.length > 0) fail(`can't give argument to non-function ${head}`);
  return operand(head, dot);
}

function truthy(value: unknown): boolean {
  if (value instanceof GoNilSlice) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof GoMap) return Object.keys(value.entries).length > 0;
  return !(
    value === undefined ||
    value === null ||
    value === false ||
    value === 0 ||
    value === 0n ||
    value === ''
  );
}

/** fmt's %v for template output. */
export function formatGoValue(value: unknown): string {
  if (value instanceof GoNilSlice) return '[]';
  if (value === undefined || value === null) return '<nil>';
  if (value instanceof GoTime || value instanceof GoDuration) return value.toString();
  if (value instanceof Uint8Array) return `[${[...value].join(' ')}]`;
  if (Array.isArray(value)) return `[${value.map(formatGoValue).join(' ')}]`;
  if (value instanceof GoMap) {
    const keys = Object.keys(value.entries).sort();
    return `map[${keys.map((k) => `${k}:${formatGoValue(value.entries[k])}`).join(' ')}]`;
  }
  if (value instanceof GoStruct) return `{${value.fields.map((f) => formatGoValue(f.value)).join(' ')}}`;
  return String(value);
}

function render(nodes: readonly Node[], dot: unknown): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'action') out += formatGoValue(evaluate(node.pipeline, dot));
    else if (node.kind === 'if')
      out += render(truthy(evaluate(node.pipeline, dot)) ? node.body : node.otherwise, dot);
    else {
      const v = evaluate(node.pipeline, dot);
      const items =
        v instanceof GoNilSlice
          ? []
          : Array.isArray(v)
            ? v
            : v instanceof GoMap
              ? Object.values(v.entries)
              : fail('range over non-list');
      out +=
        items.length === 0
          ? render(node.otherwise, dot)
          : items.map((item) => render(node.body, item)).join('');
    }
  }
  return out;
}

/** A parsed `--format` template; throws ClientUsageError on a malformed template or a bad field. */
export class GoTemplate {
  readonly #nodes: Node[];
  constructor(format: string) {
    this.#nodes = parse(tokenize(format === 'json' ? '{{json .}}' : format));
  }
  execute(data: unknown): string {
    return render(this.#nodes, data);
  }
}
