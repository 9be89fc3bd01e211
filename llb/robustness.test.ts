import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DefinitionSchema, OpSchema, type Definition, type Op } from '../proto/gen/pb/ops_pb.js';
import { sha256, type Platform } from '../oci/index.js';
import {
  InvalidDefinitionError,
  decodeDefinition,
  decodeDefinitionBytes,
  encodeOp,
  findCycle,
  image,
  local,
  marshal,
  copy,
  merge,
  mkfile,
  outputCount,
  rm,
  symlink,
  reachableFrom,
  scratch,
  type LlbGraph,
} from './index.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };

const golden = (
  JSON.parse(readFileSync(new URL('../../llb/testdata/golden.json', import.meta.url), 'utf8')) as {
    graphs: { definition: string }[];
  }
).graphs.map((g) => fromBinary(DefinitionSchema, Buffer.from(g.definition, 'base64')));

const built = (() => {
  const base = image('busybox');
  const es = base.run({
    args: ['sh'],
    mounts: [
      { dest: '/o', source: scratch() },
      { dest: '/ctx', source: local('context', { sessionId: 's' }), readonly: true },
    ],
  });
  const st = merge([es.root(), es.getMount('/o').file(mkfile('/f', 0o644, 'x').mkfile('/g', 0o600, 'y'))]);
  return marshal(st, { platform: amd64 });
})();

const bases: Definition[] = [...golden, built];

// mulberry32: a fixed seed keeps every run's 1,000 mutations the same.
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = { bytes: Uint8Array } | { def: Definition };

function flip(bytes: Uint8Array, rnd: () => number): Uint8Array {
  const out = Uint8Array.from(bytes);
  const flips = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < flips && out.length > 0; i++)
    out[Math.floor(rnd() * out.length)]! ^= 1 << Math.floor(rnd() * 8);
  return out;
}

// Index-bearing fields of an op, as setters.
function indexFields(op: Op): ((v: bigint) => void)[] {
  const fields: ((v: bigint) => void)[] = op.inputs.map((i) => (v) => (i.index = v));
  const body = op.op;
  if (body.case === 'exec') {
    for (const m of body.value.mounts)
      fields.push(
        (v) => (m.input = v),
        (v) => (m.output = v),
      );
  } else if (body.case === 'file') {
    for (const a of body.value.actions) {
      fields.push(
        (v) => (a.input = v),
        (v) => (a.secondaryInput = v),
        (v) => (a.output = v),
      );
    }
  } else if (body.case === 'merge') {
    for (const m of body.value.inputs) fields.push((v) => (m.input = v));
  } else if (body.case === 'diff') {
    const { lower, upper } = body.value;
    if (lower) fields.push((v) => (lower.input = v));
    if (upper) fields.push((v) => (upper.input = v));
  }
  return fields;
}

// Sets one index of one op to a bad value and re-digests every op that depends on it, so the
// definition stays consistent by digest and only the index is wrong.
function badIndex(def: Definition, rnd: () => number): Definition {
  const target = Math.floor(rnd() * def.def.length);
  const values = [-2n, -1n, 0n, 1n, 2n, 3n, 7n, 2n ** 31n, -(2n ** 40n)];
  const renames = new Map<string, string>();
  const ops = def.def.map((bytes, i) => {
    const op = fromBinary(OpSchema, bytes);
    let changed = false;
    for (const input of op.inputs) {
      const renamed = renames.get(input.digest);
      if (renamed) {
        input.digest = renamed;
        changed = true;
      }
    }
    const fields = i === target ? indexFields(op) : [];
    if (fields.length > 0) {
      fields[Math.floor(rnd() * fields.length)]!(values[Math.floor(rnd() * values.length)]!);
      changed = true;
    }
    if (!changed) return bytes;
    const out = encodeOp(op);
    renames.set(sha256(bytes), sha256(out));
    return out;
  });
  const metadata = Object.fromEntries(
    Object.entries(def.metadata).map(([d, md]) => [renames.get(d) ?? d, md]),
  );
  return create(DefinitionSchema, { def: ops, metadata });
}

function mutate(def: Definition, kind: number, rnd: () => number): Mutation {
  const pick = (): number => Math.floor(rnd() * def.def.length);
  const replace = (ops: Uint8Array[]): Mutation => ({ def: create(DefinitionSchema, { ...def, def: ops }) });
  const ops = [...def.def];
  switch (kind) {
    case 0:
      return { bytes: flip(toBinary(DefinitionSchema, def), rnd) };
    case 1: {
      const whole = toBinary(DefinitionSchema, def);
      return { bytes: whole.subarray(0, Math.floor(rnd() * whole.length)) };
    }
    case 2: {
      const i = pick();
      ops[i] = flip(ops[i]!, rnd);
      return replace(ops);
    }
    case 3: {
      const i = pick();
      ops[i] = ops[i]!.subarray(0, Math.floor(rnd() * ops[i]!.length));
      return replace(ops);
    }
    case 4:
      ops.splice(Math.floor(rnd() * (ops.length + 1)), 0, ops[pick()]!);
      return replace(ops);
    case 5:
      ops.splice(pick(), 1);
      return replace(ops);
    case 6: {
      const [i, j] = [pick(), pick()];
      [ops[i], ops[j]] = [ops[j]!, ops[i]!];
      return replace(ops);
    }
    default:
      return { def: badIndex(def, rnd) };
  }
}

// What an accepted definition must satisfy.
function checkConsistent(graph: LlbGraph): void {
  for (const [digest, v] of graph.vertices) {
    assert.equal(digest, sha256(v.bytes));
    assert.equal(v.outputs, outputCount(v.op));
    for (const input of v.inputs) {
      const producer = graph.vertices.get(input.digest);
      assert.ok(producer, `input ${input.digest} of ${digest} exists`);
      assert.ok(input.index >= 0 && input.index < producer.outputs);
    }
  }
  const result = graph.vertices.get(graph.result.digest);
  assert.ok(result && graph.result.index < result.outputs);
  assert.equal(findCycle(graph.vertices), undefined);
  assert.equal(reachableFrom(graph).at(-1)?.digest, graph.result.digest);
}

describe('robustness of decodeDefinition', () => {
  it('refuses (invalid-argument) or consistently decodes 1,000 mutated definitions (seed 1)', (t) => {
    const rnd = prng(1);
    const counts = { refused: 0, accepted: 0 };
    for (let i = 0; i < 1000; i++) {
      const base = bases[i % bases.length]!;
      const m = mutate(base, i % 8, rnd);
      let graph: LlbGraph;
      try {
        graph = 'bytes' in m ? decodeDefinitionBytes(m.bytes) : decodeDefinition(m.def);
      } catch (err) {
        if (!(err instanceof InvalidDefinitionError) || err.kind !== 'invalid-argument') {
          assert.fail(`mutation ${i} (kind ${i % 8}) threw ${String(err)}`);
        }
        counts.refused++;
        continue;
      }
      checkConsistent(graph);
      counts.accepted++;
    }
    t.diagnostic(`refused ${counts.refused}, accepted ${counts.accepted}`);
    assert.equal(counts.refused + counts.accepted, 1000);
    assert.ok(counts.refused > 500, `refused ${counts.refused}`);
    assert.ok(counts.accepted > 10, `accepted ${counts.accepted}`);
  });

  it('refuses a NUL byte in any path, argument or variable, naming the op', () => {
    const nul = 'a\0b';
    const cases: Array<[string, Definition]> = [
      ['rm', marshal(scratch().file(rm(`/${nul}`)), { platform: amd64 })],
      ['copy source', marshal(scratch().file(copy(scratch(), `/${nul}`, '/x')), { platform: amd64 })],
      ['mkfile', marshal(scratch().file(mkfile(`/${nul}`, 0o644, 'x')), { platform: amd64 })],
      ['symlink', marshal(scratch().file(symlink(nul, '/l')), { platform: amd64 })],
      [
        'argument',
        marshal(
          image('busybox')
            .run({ args: ['echo', nul] })
            .root(),
          { platform: amd64 },
        ),
      ],
      [
        'cwd',
        marshal(
          image('busybox')
            .dir(`/${nul}`)
            .run({ args: ['true'] })
            .root(),
          { platform: amd64 },
        ),
      ],
    ];
    for (const [what, def] of cases) {
      assert.throws(
        () => decodeDefinition(def),
        (err: unknown) =>
          err instanceof InvalidDefinitionError &&
          err.kind === 'invalid-argument' &&
          /op sha256:[0-9a-f]{64} \((file|exec)\): .*contains a NUL byte/.test(err.message),
        what,
      );
    }
  });

  // A chain source → merge → merge → …: each op's bytes are a template with its input's digest.
  function chain(length: number): Definition {
    const source = encodeOp(create(OpSchema, { op: { case: 'source', value: { identifier: 'local://x' } } }));
    const placeholder = `sha256:${'0'.repeat(64)}`;
    const template = encodeOp(
      create(OpSchema, { inputs: [{ digest: placeholder }], op: { case: 'merge', value: { inputs: [{}] } } }),
    );
    const at = Buffer.from(template).indexOf(placeholder);
    const def: Uint8Array[] = [source];
    let prev = sha256(source);
    for (let i = 1; i < length; i++) {
      const op = Buffer.from(template);
      op.write(prev, at, 'latin1');
      def.push(op);
      prev = sha256(op);
    }
    def.push(encodeOp(create(OpSchema, { inputs: [{ digest: prev }] })));
    return create(DefinitionSchema, { def });
  }

  it('validates a 100,000-deep chain without recursion', () => {
    const graph = decodeDefinition(chain(100_000));
    assert.equal(graph.vertices.size, 100_000);
    const order = reachableFrom(graph);
    assert.equal(order.length, 100_000);
    assert.equal(order[0]?.kind, 'source');
  });

  it('refuses a 1,000,001-op chain by the op limit, in bounded memory', () => {
    const def = chain(1_000_000);
    const before = process.memoryUsage().heapUsed;
    assert.throws(() => decodeDefinition(def), /1000001 ops, more than the limit of 200000/);
    assert.ok(process.memoryUsage().heapUsed - before < 32 * 1024 * 1024);
    assert.throws(
      () => decodeDefinition(def, { maxOps: 2_000_000 }),
      /bytes, more than the limit of 67108864/,
    );
  });
});
