import { ClientUsageError } from '../errors.js';

/** A flag in urfave/cli style: `--name`, `-name`, `--name=v`, `--name v`; aliases like `-o`. */
export interface FlagSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly kind: 'string' | 'strings' | 'bool' | 'int' | 'float' | 'duration';
  readonly usage: string;
  /** Default shown in help and used when absent. */
  readonly default?: string | number | boolean;
}

export type FlagValue = string | string[] | boolean | number | bigint;

/** Parsed flags by canonical name, plus positional arguments. */
export class ParsedFlags {
  constructor(
    readonly values: ReadonlyMap<string, FlagValue>,
    readonly args: readonly string[],
    readonly specs: readonly FlagSpec[],
  ) {}
  string(name: string): string {
    const v = this.values.get(name);
    if (v !== undefined) return String(v);
    const d = this.specs.find((s) => s.name === name)?.default;
    return d === undefined ? '' : String(d);
  }
  strings(name: string): string[] {
    return (this.values.get(name) as string[] | undefined) ?? [];
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  number(name: string): number {
    const v = this.values.get(name);
    if (typeof v === 'number') return v;
    const d = this.specs.find((s) => s.name === name)?.default;
    return typeof d === 'number' ? d : 0;
  }
  /** Duration flags in nanoseconds. */
  duration(name: string): bigint {
    const v = this.values.get(name);
    return typeof v === 'bigint' ? v : 0n;
  }
  has(name: string): boolean {
    return this.values.has(name);
  }
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

/** Go's time.ParseDuration (`1h30m`, `1000h`, `1.5s`); nanoseconds. */
export function parseGoDuration(text: string): bigint {
  if (text === '0') return 0n;
  const m = /^([-+]?)((?:\d*\.?\d+(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (!m) throw new Error(`time: invalid duration "${text}"`);
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d*\.?\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * durationUnits[part[2]!]!;
  }
  const ns = BigInt(Math.round(total));
  return m[1] === '-' ? -ns : ns;
}

function parseBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * Parses `args` against `specs` as Go's flag package does under urfave/cli: one or two dashes,
 * `=value` or the next argument, booleans without a value. With `stopAtPositional` (global flags)
 * parsing stops at the first non-flag argument; otherwise flags and positionals may mix, and
 * `--` ends the flags. Errors read like Go's: `flag provided but not defined: -x`.
 */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  options: { stopAtPositional?: boolean } = {},
): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) for (const n of [spec.name, ...(spec.aliases ?? [])]) byName.set(n, spec);
  const values = new Map<string, FlagValue>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (options.stopAtPositional) {
        rest.push(...args.slice(i));
        break;
      }
      rest.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec)
      throw new ClientUsageError({ option: arg, message: `flag provided but not defined: -${name}` });
    let value: string;
    if (spec.kind === 'bool') {
      const b = eq >= 0 ? parseBool(body.slice(eq + 1)) : true;
      if (b === undefined) {
        throw new ClientUsageError({
          option: arg,
          message: `invalid boolean value "${body.slice(eq + 1)}" for -${name}: parse error`,
        });
      }
      values.set(spec.name, b);
      continue;
    }
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= args.length)
        throw new ClientUsageError({ option: arg, message: `flag needs an argument: -${name}` });
      value = args[++i]!;
    }
    const invalid = (): never => {
      throw new ClientUsageError({
        option: arg,
        message: `invalid value "${value}" for flag -${name}: parse error`,
      });
    };
    switch (spec.kind) {
      case 'strings':
        values.set(spec.name, [...((values.get(spec.name) as string[] | undefined) ?? []), value]);
        break;
      case 'int':
        if (!/^[-+]?\d+$/.test(value)) invalid();
        values.set(spec.name, Number(value));
        break;
      case 'float':
        if (value.trim() === '' || !Number.isFinite(Number(value))) invalid();
        values.set(spec.name, Number(value));
        break;
      case 'duration':
        try {
          values.set(spec.name, parseGoDuration(value));
        } catch {
          invalid();
        }
        break;
      default:
        values.set(spec.name, value);
    }
  }
  return new ParsedFlags(values, rest, specs);
}

/** The OPTIONS block of a help text. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const names = [s.name, ...(s.aliases ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
      const value = s.kind === 'bool' ? '' : ' value';
      const def =
        s.default !== undefined && s.default !== '' && s.kind !== 'bool'
          ? ` (default: ${JSON.stringify(s.default)})`
          : '';
      return `   ${names.map((n) => n + value).join(', ')}\t${s.usage}${def}`;
    })
    .join('\n');
}
