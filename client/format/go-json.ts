/**
 * JSON as Go's encoding/json writes it, for outputs scripts compare byte-for-byte with buildctl's:
 * `--metadata-file`, `--format json`, `--progress rawjson`, `debug dump-llb`.
 */

/** Already-encoded JSON embedded as is (Go's json.RawMessage): re-indented, never re-parsed. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A Go map: keys are written sorted, as Go does; a plain object keeps its order (a Go struct). */
export class GoMap {
  constructor(readonly entries: Readonly<Record<string, unknown>>) {}
}

/** A nil slice: JSON `null`, but `[]` when printed with %v and empty in templates. */
export class GoNilSlice {
  static readonly instance = new GoNilSlice();
  private constructor() {}
}

/** One field of a Go struct: its Go name (templates), JSON name and value. */
export interface GoField {
  readonly name: string;
  readonly json: string;
  readonly value: unknown;
  /** `omitempty`: left out of JSON when zero, empty or nil. */
  readonly omitEmpty?: boolean;
}

/** A Go struct value: JSON uses the `json` names, templates (`{{.ID}}`) the Go names. */
export class GoStruct {
  constructor(readonly fields: readonly GoField[]) {}
  get(name: string): GoField | undefined {
    return this.fields.find((f) => f.name === name);
  }
}

/** A time.Time with nanoseconds, in UTC (how BuildKit's client decodes protobuf timestamps). */
export class GoTime {
  constructor(
    readonly seconds: bigint,
    readonly nanos: number,
  ) {}
  static fromTimestamp(ts: { seconds: bigint; nanos: number }): GoTime {
    return new GoTime(ts.seconds, ts.nanos);
  }
  #parts(): { date: string; time: string; frac: string } {
    const iso = new Date(Number(this.seconds) * 1000).toISOString();
    return { date: iso.slice(0, 10), time: iso.slice(11, 19), frac: String(this.nanos).padStart(9, '0') };
  }
  /** Go's time.Time.String(): `2006-01-02 15:04:05.999999999 +0000 UTC`. */
  toString(): string {
    const { date, time, frac } = this.#parts();
    const f = frac.replace(/0+$/, '');
    return `${date} ${time}${f ? '.' + f : ''} +0000 UTC`;
  }
  /** time.RFC3339Nano. */
  rfc3339Nano(): string {
    const { date, time, frac } = this.#parts();
    const f = frac.replace(/0+$/, '');
    return `${date}T${time}${f ? '.' + f : ''}Z`;
  }
}

/** A time.Duration: JSON is its nanoseconds, text is Go's `48h0m0s` form. */
export class GoDuration {
  constructor(readonly nanoseconds: bigint) {}
  toString(): string {
    return formatGoDuration(this.nanoseconds);
  }
}

/** Go's time.Duration.String(). */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const negative = ns < 0n;
  let u = negative ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    const [unit, scale] =
      u < 1_000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1_000n] : (['ms', 1_000_000n] as const);
    out = fraction(u, scale as bigint) + unit;
  } else {
    const h = u / 3_600_000_000_000n;
    u -= h * 3_600_000_000_000n;
    const m = u / 60_000_000_000n;
    u -= m * 60_000_000_000n;
    const s = fraction(u, 1_000_000_000n) + 's';
    out = h > 0n ? `${h}h${m}m${s}` : m > 0n ? `${m}m${s}` : s;
  }
  return negative ? '-' + out : out;
}

function fraction(value: bigint, scale: bigint): string {
  const whole = value / scale;
  const rest = value % scale;
  if (rest === 0n) return String(whole);
  const digits = String(scale).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

function isEmptyValue(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value instanceof GoNilSlice ||
    value === '' ||
    value === 0 ||
    value === 0n ||
    value === false ||
    (Array.isArray(value) && value.length === 0) ||
    (value instanceof GoMap && Object.keys(value.entries).length === 0)
  );
}

export interface GoJsonOptions {
  /** Escape `<`, `>`, `&` as `\u003c`…; Go's json.Marshal default (`{{json .}}` turns it off). */
  readonly escapeHtml?: boolean;
  /** json.MarshalIndent's indent (e.g. two spaces); compact when absent. */
  readonly indent?: string;
}

/** A JSON string literal with Go's escapes (`\u003c`, `\u2028`, `\ufffd` for lone surrogates). */
export function goJsonString(text: string, escapeHtml = true): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ch = text[i]!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else if (escapeHtml && (ch === '<' || ch === '>' || ch === '&')) out += `\\u00${c.toString(16)}`;
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + text[i + 1];
        i++;
      } else out += '\\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

/** Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped, `Z` zone. */
export function rfc3339Nano(date: Date): string {
  const iso = date.toISOString();
  const [main, frac] = iso.slice(0, -1).split('.');
  const trimmed = (frac ?? '').replace(/0+$/, '');
  return `${main}${trimmed ? '.' + trimmed : ''}Z`;
}

function encode(value: unknown, options: GoJsonOptions): string {
  const escapeHtml = options.escapeHtml ?? true;
  if (value === null || value === undefined || value instanceof GoNilSlice) return 'null';
  if (value instanceof RawJson) return compactRaw(value.text, escapeHtml);
  if (value instanceof Date) return goJsonString(rfc3339Nano(value), escapeHtml);
  if (value instanceof GoTime) return `"${value.rfc3339Nano()}"`;
  if (value instanceof GoDuration) return value.nanoseconds.toString();
  if (value instanceof GoStruct) {
    const fields = value.fields.filter((f) => !(f.omitEmpty && isEmptyValue(f.value)));
    return `{${fields.map((f) => `${goJsonString(f.json, escapeHtml)}:${encode(f.value, options)}`).join(',')}}`;
  }
  if (value instanceof Uint8Array) return `"${Buffer.from(value).toString('base64')}"`;
  if (typeof value === 'string') return goJsonString(value, escapeHtml);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => encode(v, options)).join(',')}]`;
  const entries =
    value instanceof GoMap
      ? Object.entries(value.entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      : Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${goJsonString(k, escapeHtml)}:${encode(v, options)}`).join(',')}}`;
}

/** Encodes `value` like Go's json.Marshal / MarshalIndent (undefined object fields are left out). */
export function goJson(value: unknown, options: GoJsonOptions = {}): string {
  const compact = encode(value, options);
  return options.indent === undefined ? compact : indentJson(compact, options.indent);
}

/** Compacts raw JSON text, re-escaping its strings Go's way, without touching number literals. */
function compactRaw(text: string, escapeHtml: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += goJsonString(JSON.parse(text.slice(i, j + 1)) as string, escapeHtml);
      i = j;
    } else if (!' \t\r\n'.includes(ch)) out += ch;
  }
  return out;
}

/** json.Indent over compact JSON: one element per line, empty `{}` / `[]` kept on one line. */
export function indentJson(compact: string, indent: string): string {
  let out = '';
  let depth = 0;
  const newline = (): string => '\n' + indent.repeat(depth);
  for (let i = 0; i < compact.length; i++) {
    const ch = compact[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < compact.length && compact[j] !== '"') j += compact[j] === '\\' ? 2 : 1;
      out += compact.slice(i, j + 1);
      i = j;
    } else if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      if (compact[i + 1] === close) {
        out += ch + close;
        i++;
      } else {
        depth++;
        out += ch + newline();
      }
    } else if (ch === '}' || ch === ']') {
      depth--;
      out += newline() + ch;
    } else if (ch === ',') out += ',' + newline();
    else if (ch === ':') out += ': ';
    else out += ch;
  }
  return out;
}
