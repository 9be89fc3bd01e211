import { goQuote } from '../go-text.js';
import { withSuggestion } from '../suggest.js';
import { FlagError } from './flags.js';
import type { CacheSharing, MountType, RunMount, RunMountSpec } from './types.js';

const mountTypes: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const sharings: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const knownKeys = [
  'type',
  'from',
  'source',
  'target',
  'readonly',
  'id',
  'sharing',
  'required',
  'mode',
  'uid',
  'gid',
  'src',
  'dst',
  'ro',
  'rw',
  'readwrite',
];

/** Splits one CSV record the way Go's encoding/csv does (quotes, `""`, strict about bare quotes). */
function csvFields(text: string): string[] {
  if (text === '') throw new FlagError('failed to parse csv mounts: EOF');
  const fields: string[] = [];
  const fail = (col: number, what: string): FlagError =>
    new FlagError(`failed to parse csv mounts: parse error on line 1, column ${col}: ${what}`);
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw fail(text.length + 1, 'extraneous or missing " in quoted-field');
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          field += '"';
          i++;
        } else if (i === text.length || text[i] === ',') {
          break;
        } else {
          throw fail(i + 1, 'extraneous or missing " in quoted-field');
        }
      }
    } else {
      const comma = text.indexOf(',', i);
      field = text.slice(i, comma < 0 ? text.length : comma);
      const quote = field.indexOf('"');
      if (quote >= 0) throw fail(i + quote + 1, 'bare " in non-quoted-field');
      i += field.length;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++;
  }
}

const goBools: Record<string, boolean> = { 1: true, t: true, T: true, TRUE: true, true: true, True: true };
for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) goBools[f] = false;

function parseBool(key: string, value: string): boolean {
  const b = goBools[value];
  if (b === undefined) throw new FlagError(`invalid value for ${key}: ${value}`);
  return b;
}

function parseUint32(value: string, radix: 8 | 10, what: string): number {
  const digits = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  const n = digits.test(value) ? parseInt(value, radix) : NaN;
  if (!(n <= 0xffffffff)) throw new FlagError(`invalid value ${value} for ${what}`);
  return n;
}

/** docker/go-units RAMInBytes: `64m`, `1.5GiB`, `100` (binary multiples). */
function ramInBytes(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value);
  if (!m) return undefined;
  const size = parseFloat(m[1]!);
  const exp = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.trunc(size * 1024 ** exp);
}

/** Reads a `--mount` value at parse time: CSV syntax and `from` (which may not use variables). */
export function parseMountSpec(text: string): RunMountSpec {
  let from: string | undefined;
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    if (eq < 0 || field.slice(0, eq).toLowerCase() !== 'from') continue;
    const value = field.slice(eq + 1);
    if (/\$[^\n]/.test(value)) {
      throw new FlagError("'from' doesn't support variable expansion, define alias stage instead");
    }
    from = value;
  }
  return from === undefined ? { text } : { text, from };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Parses and validates a `--mount` value, expanding each value with `expand` first. Errors carry
 * BuildKit's messages (`unsupported mount type "bnd" (did you mean bind?)`, `unexpected key 'size'
 * for mount type 'bind'`, `invalid secret mount. one of source, target required`, …).
 */
export function resolveMount(text: string, expand: (word: string) => string): RunMount {
  const m: Mutable<RunMount> = { type: 'bind', readOnly: true, required: false };
  let roAuto = true;
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro' || key === 'readwrite' || key === 'rw') {
        m.readOnly = key === 'readonly' || key === 'ro';
        roAuto = false;
        continue;
      }
      if (key === 'required') {
        if (m.type !== 'secret' && m.type !== 'ssh') {
          throw new FlagError(`unexpected key '${key}' for mount type '${m.type}'`);
        }
        m.required = true;
        continue;
      }
      throw new FlagError(`invalid field '${field}' must be a key=value pair`);
    }
    const value = expand(field.slice(eq + 1));
    const unexpected = (): FlagError => new FlagError(`unexpected key '${key}' for mount type '${m.type}'`);
    switch (key) {
      case 'type': {
        const type = value.toLowerCase() as MountType;
        if (!mountTypes.includes(type)) {
          throw new FlagError(
            withSuggestion(`unsupported mount type ${goQuote(value)}`, value, mountTypes, true),
          );
        }
        m.type = type;
        break;
      }
      case 'from':
        m.from = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw unexpected();
        m.required = parseBool(key, value);
        break;
      case 'size': {
        if (m.type !== 'tmpfs') throw unexpected();
        const size = ramInBytes(value);
        if (size === undefined) throw new FlagError(`invalid value for ${key}: ${value}`);
        m.sizeLimit = size;
        break;
      }
      case 'id':
        m.id = value;
        break;
      case 'sharing': {
        const sharing = value.toLowerCase() as CacheSharing;
        if (!sharings.includes(sharing)) throw new FlagError(`unsupported sharing value ${goQuote(value)}`);
        m.sharing = sharing;
        break;
      }
      case 'mode':
        m.mode = parseUint32(value, 8, 'mode');
        break;
      case 'uid':
        m.uid = parseUint32(value, 10, 'uid');
        break;
      case 'gid':
        m.gid = parseUint32(value, 10, 'gid');
        break;
      default:
        throw new FlagError(withSuggestion(`unexpected key '${key}' in '${field}'`, key, knownKeys, true));
    }
  }
  return validate(m, roAuto);
}

function validate(m: Mutable<RunMount>, roAuto: boolean): RunMount {
  // BuildKit treats an empty value like an absent one.
  for (const key of ['from', 'source', 'target', 'id'] as const) if (m[key] === '') delete m[key];
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  for (const what of ['mode', 'uid', 'gid'] as const) {
    if (m[what] !== undefined && !fileInfoAllowed) {
      throw new FlagError(`${what} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = m.type !== 'cache' && m.type !== 'tmpfs';
  if (m.sharing !== undefined && m.type !== 'cache')
    throw new FlagError(`invalid cache sharing set for ${m.type} mount`);
  if (m.type === 'secret') {
    if (m.from) throw new FlagError('secret mount should not have a from');
    if (m.sharing !== undefined) throw new FlagError('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id)
      throw new FlagError('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new FlagError("both source and id can't be set");
  }
  return m;
}
