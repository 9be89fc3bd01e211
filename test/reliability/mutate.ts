// Seeded mutators for hostile-input tests: LLB definitions and Dockerfiles. Mutant `i` of a run
// depends only on (seed, i), so any single failure is reproduced by its index alone.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { encodeOp } from '../../llb/index.js';
import { sha256 } from '../../oci/index.js';
import { DefinitionSchema, OpSchema, type Definition, type Op } from '../../proto/gen/pb/ops_pb.js';

/** mulberry32: tiny, fast and the same on every machine. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed | 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

/** The generator of mutant `index` in the run seeded `seed`. */
export function mutantRng(seed: number, index: number): Rng {
  return new Rng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
}

// Values a hostile client would try. No host names anywhere: a mutant may point at the fixture
// registry or at nothing, never at the network.
const hostileStrings = [
  '',
  '/',
  '.',
  '..',
  '../../../../../../../../etc/passwd',
  '/../../../../etc/shadow',
  '/proc/self/root/etc',
  'a/../../b',
  '**/..',
  '\0',
  '\u202e\uffff',
  'sha256:' + '0'.repeat(64),
  'docker-image://',
  'local://',
  'C:\\Windows',
  'x'.repeat(4096),
];
const hostileNumbers = [0, 1, -1, 2, 7, 255, 0o777, 0o4755, 65535, 2 ** 31 - 1, -(2 ** 31), 4294967295];
const hostileBigints = [0n, 1n, -1n, 2n, 1000n, 2n ** 31n, 2n ** 63n - 1n, -(2n ** 63n)];

type Leaf = (rng: Rng) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !Array.isArray(value)
  );
}

/** Setters for every value reachable in a protobuf-es message, each replacing it with a hostile one. */
function leaves(holder: Record<string, unknown> | unknown[], key: string | number, out: Leaf[]): void {
  const at = holder as Record<string | number, unknown>;
  const value = at[key];
  if (typeof value === 'string') {
    out.push((rng) => {
      const s = at[key] as string;
      at[key] = rng.pick([
        () => rng.pick(hostileStrings),
        () => s + rng.pick(hostileStrings),
        () => s.slice(1),
      ])();
    });
  } else if (typeof value === 'number') out.push((rng) => (at[key] = rng.pick(hostileNumbers)));
  else if (typeof value === 'bigint') out.push((rng) => (at[key] = rng.pick(hostileBigints)));
  else if (typeof value === 'boolean') out.push(() => (at[key] = !value));
  else if (value instanceof Uint8Array) out.push((rng) => (at[key] = rng.bytes(rng.int(64))));
  else if (Array.isArray(value)) {
    if (value.length > 0) {
      out.push((rng) => value.splice(rng.int(value.length), 1));
      out.push((rng) => value.push(value[rng.int(value.length)]));
    }
    value.forEach((_, i) => leaves(value, i, out));
  } else if (isRecord(value)) {
    if ('case' in value && !('$typeName' in value)) {
      // A oneof: unset it, or mutate what it holds.
      if (value.case !== undefined) out.push(() => (at[key] = { case: undefined }));
      if ('value' in value) leaves(value, 'value', out);
      return;
    }
    const isMap = !('$typeName' in value);
    for (const k of Object.keys(value)) {
      if (k === '$typeName' || k === '$unknown') continue;
      if (isMap) out.push(() => delete value[k]);
      leaves(value, k, out);
    }
  }
}

/** Re-encodes the ops, rewriting input digests (and metadata keys) after `changed` ops got new bytes. */
function relink(def: Definition, changed: ReadonlyMap<number, Op>): Definition {
  const renames = new Map<string, string>();
  // marshal writes inputs before their users, so one pass carries every rename forward.
  const ops = def.def.map((bytes, i) => {
    const op = changed.get(i) ?? fromBinary(OpSchema, bytes);
    let dirty = changed.has(i);
    for (const input of op.inputs) {
      const renamed = renames.get(input.digest);
      if (renamed !== undefined) {
        input.digest = renamed;
        dirty = true;
      }
    }
    if (!dirty) return bytes;
    const out = encodeOp(op);
    renames.set(sha256(bytes), sha256(out));
    return out;
  });
  const metadata = Object.fromEntries(
    Object.entries(def.metadata).map(([d, md]) => [renames.get(d) ?? d, md]),
  );
  return create(DefinitionSchema, { ...def, def: ops, metadata });
}

type LlbOperator = (def: Definition, rng: Rng) => Definition;

const llbOperators: Readonly<Record<string, LlbOperator>> = {
  /** A few bits of one op flipped: its digest changes, so users of it dangle or it fails to decode. */
  'op-bits': (def, rng) => {
    const ops = [...def.def];
    const i = rng.int(ops.length);
    const bytes = Uint8Array.from(ops[i]!);
    for (let n = 1 + rng.int(3); n > 0 && bytes.length > 0; n--)
      bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
    ops[i] = bytes;
    return create(DefinitionSchema, { ...def, def: ops });
  },
  'op-garbage': (def, rng) => {
    const ops = [...def.def];
    ops[rng.int(ops.length)] = rng.bytes(rng.int(48));
    return create(DefinitionSchema, { ...def, def: ops });
  },
  'op-truncated': (def, rng) => {
    const ops = [...def.def];
    const i = rng.int(ops.length);
    ops[i] = ops[i]!.subarray(0, rng.int(ops[i]!.length));
    return create(DefinitionSchema, { ...def, def: ops });
  },
  /** One field deep inside one op made hostile, digests re-linked: reaches the solver and the ops. */
  field: (def, rng) => {
    const i = rng.int(def.def.length);
    const op = fromBinary(OpSchema, def.def[i]!);
    const setters: Leaf[] = [];
    leaves({ op }, 'op', setters);
    if (setters.length > 0) rng.pick(setters)(rng);
    return relink(def, new Map([[i, op]]));
  },
  'op-dropped': (def, rng) => {
    const ops = [...def.def];
    // An empty definition never leaves the client (it asks for --frontend instead).
    if (ops.length > 1) ops.splice(rng.int(ops.length), 1);
    return create(DefinitionSchema, { ...def, def: ops });
  },
  'ops-shuffled': (def, rng) => {
    const ops = [...def.def];
    for (let i = ops.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [ops[i], ops[j]] = [ops[j]!, ops[i]!];
    }
    return create(DefinitionSchema, { ...def, def: ops });
  },
  /** Metadata made hostile: unknown caps, ignore-cache, descriptions, keys naming nothing. */
  metadata: (def, rng) => {
    const holder = { metadata: structuredClone(def.metadata) };
    const setters: Leaf[] = [];
    leaves(holder, 'metadata', setters);
    setters.push((r) => (holder.metadata[`sha256:${r.int(1e9)}`] = Object.values(def.metadata)[0]!));
    setters.push((r) => {
      const first = Object.values(holder.metadata)[0];
      if (first) first.caps[r.pick(['exec.unknown', 'source.image', '', 'x'.repeat(300)])] = true;
    });
    rng.pick(setters)(rng);
    return create(DefinitionSchema, { ...def, metadata: holder.metadata });
  },
};

export const llbOperatorNames = Object.keys(llbOperators);

/** One to three seeded mutations of `base`, named by the operators applied. */
export function mutateDefinition(
  base: Definition,
  rng: Rng,
): { operators: string[]; definition: Definition } {
  let definition = create(DefinitionSchema, fromBinary(DefinitionSchema, toBinary(DefinitionSchema, base)));
  const operators: string[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const name = rng.pick(llbOperatorNames);
    try {
      definition = llbOperators[name]!(definition, rng);
      operators.push(name);
    } catch {
      // A hostile value the encoder itself refuses (a negative uint32): not sendable, try another.
    }
  }
  return { operators, definition };
}

// Dockerfiles: line and token mutations over seeds that use `scratch` and the `BASE` build arg.
const keywords = [
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'MAINTAINER',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
  'FRUM',
  'from',
  '',
];
const flags = [
  '--from=0',
  '--from=base',
  '--chown=1:1',
  '--chown=nobody',
  '--chmod=755',
  '--chmod=9999',
  '--link',
  '--mount=type=cache,target=/c',
  '--mount=type=secret,id=x',
  '--mount=type=bind,from=base,target=/b',
  '--mount=type=tmpfs',
  '--mount=',
  '--network=none',
  '--network=host',
  '--security=insecure',
  '--platform=linux/arm64',
  '--platform=plan9/mips',
  '--interval=0s',
  '--exclude=*',
  '--parents',
  '--bogus',
];
const words = [
  'a.txt',
  'dir/',
  '.',
  '/',
  '../',
  '../../../etc/passwd',
  '/etc/passwd',
  '${X}',
  '$X',
  '${X:-d}',
  '${X:?unset}',
  '${',
  '"',
  "'",
  '\\',
  '[',
  '["sh", "-c"',
  '["a"]',
  '<<EOF',
  'a=b',
  '=',
  '0:0',
  'root',
  '1/tcp',
  '65536/udp',
  'true',
  'echo hi',
  'exit 3',
  '*',
  '**',
  '[a-',
  'SIGKILL',
  'NONE',
  'CMD true',
  'AS',
  'base',
  'scratch',
  '${BASE}',
  '\0',
  '\u202e',
  'x'.repeat(2000),
];

function randomLine(rng: Rng): string {
  const parts = [rng.pick(keywords)];
  for (let n = rng.int(2); n > 0; n--) parts.push(rng.pick(flags));
  for (let n = rng.int(4); n > 0; n--) parts.push(rng.pick(words));
  return parts.join(' ');
}

type DockerfileOperator = (lines: string[], rng: Rng) => void;

const at = (lines: string[], rng: Rng): number => rng.int(lines.length);
const dockerfileOperators: Readonly<Record<string, DockerfileOperator>> = {
  'line-dropped': (lines, rng) => void lines.splice(at(lines, rng), 1),
  'line-doubled': (lines, rng) => {
    const i = at(lines, rng);
    lines.splice(i, 0, lines[i] ?? '');
  },
  'lines-swapped': (lines, rng) => {
    const i = at(lines, rng);
    const j = at(lines, rng);
    [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
  },
  'line-inserted': (lines, rng) => void lines.splice(at(lines, rng) + 1, 0, randomLine(rng)),
  'word-replaced': (lines, rng) => {
    const i = at(lines, rng);
    const tokens = (lines[i] ?? '').split(' ');
    tokens[rng.int(tokens.length)] = rng.pick([...words, ...flags]);
    lines[i] = tokens.join(' ');
  },
  'chars-flipped': (lines, rng) => {
    const i = at(lines, rng);
    const chars = [...(lines[i] ?? '')];
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const p = rng.int(chars.length + 1);
      const c = String.fromCharCode(rng.pick([32 + rng.int(95), rng.int(32), 0x80 + rng.int(0x780)]));
      if (rng.int(2) === 0) chars.splice(p, 1, c);
      else chars.splice(p, 0, c);
    }
    lines[i] = chars.join('');
  },
  continued: (lines, rng) => {
    const i = at(lines, rng);
    lines[i] = `${lines[i] ?? ''} \\`;
  },
  truncated: (lines, rng) => {
    const text = lines.join('\n');
    lines.splice(0, lines.length, ...text.slice(0, rng.int(text.length + 1)).split('\n'));
  },
};

export const dockerfileOperatorNames = Object.keys(dockerfileOperators);

/**
 * One to four seeded mutations of `seed`. Image names a mutation invents (`FROM scratcj`,
 * `--from=x`) are turned back into `scratch`, since resolving them would wait on the network.
 */
export function mutateDockerfile(seed: string, rng: Rng): { operators: string[]; dockerfile: string } {
  const lines = seed.split('\n');
  const operators: string[] = [];
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const name = rng.pick(dockerfileOperatorNames);
    dockerfileOperators[name]!(lines, rng);
    operators.push(name);
  }
  return { operators, dockerfile: withoutRemoteImages(lines) };
}

const localImages = new Set(['scratch', '$base', '${base}']);

/** The lines with every image name that is neither scratch, `$BASE` nor an earlier stage replaced by `scratch`. */
function withoutRemoteImages(lines: readonly string[]): string {
  const stages = new Set<string>();
  const known = (name: string): boolean =>
    localImages.has(name.toLowerCase()) || stages.has(name.toLowerCase()) || /^\d+$/.test(name);
  return lines
    .map((line) => {
      let out = line.replace(/(--from=|,from=)([^\s,]*)/gi, (m, flag: string, name: string) =>
        known(name) ? m : `${flag}0`,
      );
      const from = /^(\s*from\s+(?:--\S+\s+)*)(\S+)(.*)$/i.exec(out);
      if (from) {
        if (!known(from[2]!)) out = `${from[1]}scratch${from[3]}`;
        const stage = /\s+as\s+(\S+)/i.exec(from[3]!);
        if (stage) stages.add(stage[1]!.toLowerCase());
      }
      return out;
    })
    .join('\n');
}
