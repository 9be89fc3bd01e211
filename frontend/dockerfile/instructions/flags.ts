import { withSuggestion } from '../suggest.js';

/** A bad flag or flag value (also a bad `--mount` field); internal, the instruction layer adds the line. */
export class FlagError extends Error {}

type Kind = 'bool' | 'string' | 'strings';

interface Flag {
  readonly kind: Kind;
  value?: string;
  values: string[];
}

/**
 * The `--name[=value]` flags of one instruction, with BuildKit's rules: flags are declared per
 * instruction; a bool takes no value or `true`/`false`; a string needs `=value`; a strings flag may
 * repeat; anything else is an error with BuildKit's message (`unknown flag: foo (did you mean …?)`).
 */
export class InstructionFlags {
  private readonly declared = new Map<string, Flag>();
  private readonly used = new Set<string>();

  constructor(private readonly given: readonly string[]) {}

  private declare(name: string, kind: Kind): Flag {
    const flag: Flag = { kind, values: [] };
    this.declared.set(name, flag);
    return flag;
  }

  bool(name: string): () => boolean {
    const flag = this.declare(name, 'bool');
    return () => flag.value === 'true';
  }

  string(name: string): () => string | undefined {
    const flag = this.declare(name, 'string');
    return () => (flag.value === '' ? undefined : flag.value);
  }

  strings(name: string): () => string[] {
    const flag = this.declare(name, 'strings');
    return () => flag.values;
  }

  /** Names of the flags that were given, sorted. */
  usedNames(): string[] {
    return [...this.used].sort();
  }

  /** Reads the given flags against the declared ones. Throws FlagError. */
  parse(): void {
    for (const arg of this.given) {
      if (!arg.startsWith('--')) throw new FlagError(`arg should start with -- : ${arg}`);
      if (arg === '--') return;
      const eq = arg.indexOf('=', 2);
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const value = eq < 0 ? undefined : arg.slice(eq + 1);
      const flag = this.declared.get(name);
      if (!flag) {
        throw new FlagError(withSuggestion(`unknown flag: ${name}`, name, [...this.declared.keys()], true));
      }
      if (this.used.has(name) && flag.kind !== 'strings')
        throw new FlagError(`duplicate flag specified: ${name}`);
      this.used.add(name);
      if (flag.kind === 'bool') {
        if (value === '') throw new FlagError(`missing a value on flag: ${name}`);
        const lower = (value ?? '').toLowerCase();
        if (lower !== '' && lower !== 'true' && lower !== 'false') {
          throw new FlagError(`expecting boolean value for flag ${name}, not: ${value}`);
        }
        flag.value = lower === '' ? 'true' : lower;
      } else {
        if (value === undefined) throw new FlagError(`missing a value on flag: ${name}`);
        if (flag.kind === 'string') flag.value = value;
        else flag.values.push(value);
      }
    }
  }
}
