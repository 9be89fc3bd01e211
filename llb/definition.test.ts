import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  DefinitionSchema,
  MountType,
  OpMetadataSchema,
  OpSchema,
  type Definition,
  type Op,
  type OpMetadata,
} from '../proto/gen/pb/ops_pb.js';
import { sha256, type Digest, type Platform } from '../oci/index.js';
import {
  InvalidDefinitionError,
  decodeDefinition,
  decodeDefinitionBytes,
  encodeOp,
  findCycle,
  image,
  inputDigests,
  local,
  marshal,
  merge,
  mkdir,
  outputCount,
  reachableFrom,
  scratch,
} from './index.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };

/** A definition from op messages: digests computed, the terminal reading `result`. */
function definition(
  ops: Op[],
  result: { op: number; index?: number },
  metadata: Record<string, OpMetadata> = {},
) {
  const def = ops.map(encodeOp);
  const digests = def.map((b) => sha256(b));
  const terminal = encodeOp(
    create(OpSchema, {
      inputs: [{ digest: digests[result.op] ?? 'sha256:none', index: BigInt(result.index ?? 0) }],
    }),
  );
  return { def: create(DefinitionSchema, { def: [...def, terminal], metadata }), digests };
}

const source = (identifier: string): Op =>
  create(OpSchema, { op: { case: 'source', value: { identifier } }, constraints: {} });

function refused(def: Definition | Uint8Array, pattern: RegExp, options = {}): InvalidDefinitionError {
  let caught: unknown;
  try {
    if (def instanceof Uint8Array) decodeDefinitionBytes(def, options);
    else decodeDefinition(def, options);
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof InvalidDefinitionError,
    `expected InvalidDefinitionError, got ${String(caught)}`,
  );
  assert.equal(caught.kind, 'invalid-argument');
  assert.equal(caught.code, 'KILN_LLB_INVALID');
  assert.match(caught.message, pattern);
  return caught;
}

function execOp(inputs: string[], mounts: Partial<Op['op'] & object>[] | object[], args = ['true']): Op {
  return create(OpSchema, {
    inputs: inputs.map((digest) => ({ digest })),
    op: { case: 'exec', value: { meta: { args, cwd: '/' }, mounts: mounts as never } },
  });
}

describe('decodeDefinition', () => {
  it('decodes a builder graph: digests over the exact bytes, metadata, result, outputs', () => {
    const base = image('busybox');
    const es = base.run({
      args: ['sh', '-c', 'true'],
      mounts: [
        { dest: '/out', source: scratch() },
        { type: 'cache', dest: '/cache', id: 'c' },
      ],
      customName: 'run it',
    });
    const def = marshal(merge([es.getMount('/out'), local('ctx', { sessionId: 's' })]), { platform: amd64 });
    const graph = decodeDefinition(def);
    assert.equal(graph.vertices.size, def.def.length - 1);
    for (const [digest, v] of graph.vertices) {
      assert.equal(digest, sha256(v.bytes));
      assert.equal(v.outputs, outputCount(v.op));
      assert.deepEqual(v.inputDigests, inputDigests(v.op));
    }
    const kinds = [...graph.vertices.values()].map((v) => v.kind);
    assert.deepEqual(kinds, ['source', 'exec', 'source', 'merge']);
    const exec = [...graph.vertices.values()].find((v) => v.kind === 'exec')!;
    assert.equal(exec.outputs, 2);
    assert.equal(exec.metadata?.description['llb.customname'], 'run it');
    assert.equal(graph.result.digest, [...graph.vertices.keys()][3]);
    assert.equal(graph.result.index, 0);
    assert.deepEqual(Object.keys(graph.terminal.metadata?.caps ?? {}).sort(), [
      'constraints',
      'meta.description',
      'platform',
    ]);
    assert.deepEqual(
      reachableFrom(graph).map((v) => v.kind),
      ['source', 'exec', 'source', 'merge'],
    );
    assert.deepEqual(
      reachableFrom(graph, exec.digest).map((v) => v.kind),
      ['source', 'exec'],
    );
  });

  it('collapses identical ops and accepts the whole message as bytes', () => {
    const { def } = definition([source('docker-image://docker.io/library/busybox:latest')], { op: 0 });
    const doubled = create(DefinitionSchema, { def: [def.def[0]!, ...def.def] });
    assert.equal(decodeDefinition(doubled).vertices.size, 1);
    assert.equal(decodeDefinitionBytes(toBinary(DefinitionSchema, doubled)).vertices.size, 1);
  });

  it('refuses undecodable bytes, naming the element and its digest', () => {
    const bad = Uint8Array.of(0x0a, 0x05, 0x01);
    const { def } = definition([source('local://x')], { op: 0 });
    const err = refused(
      create(DefinitionSchema, { def: [bad, ...def.def] }),
      /element 0 is not a valid pb\.Op/,
    );
    assert.equal(err.digest, sha256(bad));
    refused(Uint8Array.of(0xff, 0xff, 0xff), /not a valid pb\.Definition/);
  });

  it('refuses definitions with fewer than two distinct ops', () => {
    refused(create(DefinitionSchema, {}), /has 0 ops/);
    const { def } = definition([source('local://x')], { op: 0 });
    refused(create(DefinitionSchema, { def: [def.def[1]!] }), /has 1 ops/);
    refused(create(DefinitionSchema, { def: [def.def[1]!, def.def[1]!] }), /1 distinct ops/);
  });

  it('refuses a bad terminal op', () => {
    const src = source('local://x');
    const d = sha256(encodeOp(src));
    const noInput = create(DefinitionSchema, { def: [encodeOp(src), encodeOp(create(OpSchema, {}))] });
    refused(noInput, /terminal op has 0 inputs, expected exactly 1/);
    const two = encodeOp(create(OpSchema, { inputs: [{ digest: d }, { digest: d }] }));
    refused(create(DefinitionSchema, { def: [encodeOp(src), two] }), /terminal op has 2 inputs/);
    refused(
      create(DefinitionSchema, { def: [encodeOp(src), encodeOp(source('local://y'))] }),
      /must be the terminal op/,
    );
    const { def } = definition([src], { op: 0, index: 1 });
    refused(def, /terminal op reads output 1 of sha256:[0-9a-f]{64} \(source\), which has 1/);
    refused(definition([src], { op: 5 }).def, /terminal op names "sha256:none", which is not an op/);
  });

  it('refuses ops without a kind, unsupported kinds and unknown input digests', () => {
    const kindless = create(OpSchema, { inputs: [] });
    const { def } = definition([source('local://x'), kindless], { op: 0 });
    refused(def, /op sha256:[0-9a-f]{64} \(none\): op has no op kind/);
    const build = create(OpSchema, { op: { case: 'build', value: {} } });
    refused(definition([build], { op: 0 }).def, /\(build\): op kind build is not supported/);
    const orphan = create(OpSchema, {
      inputs: [{ digest: `sha256:${'0'.repeat(64)}` }],
      op: { case: 'merge', value: { inputs: [{ input: 0n }] } },
    });
    refused(
      definition([orphan], { op: 0 }).def,
      /\(merge\): input 0 names "sha256:0{64}", which is not an op/,
    );
  });

  it('refuses input indexes past the producer outputs', () => {
    const src = source('local://x');
    const d = sha256(encodeOp(src));
    const m = create(OpSchema, {
      inputs: [{ digest: d, index: 1n }],
      op: { case: 'merge', value: { inputs: [{}] } },
    });
    refused(
      definition([src, m], { op: 1 }).def,
      /\(merge\): input 0 reads output 1 of sha256:\S+ \(source\), which has 1/,
    );
  });

  it('refuses exec ops with bad mounts', () => {
    const src = source('docker-image://docker.io/library/busybox:latest');
    const d = sha256(encodeOp(src));
    const root = { dest: '/', input: 0n, output: 0n };
    const cases: [object[], RegExp, string[]?][] = [
      [[{ ...root, input: 1n }], /mount 0 \("\/"\) reads input 1, but the op has 1 inputs/],
      [[{ ...root, output: 1n }], /mount 0 \("\/"\) has output 1, expected 0/],
      [[{ dest: '/x', input: 0n }], /no root mount/],
      [[{ ...root, mountType: MountType.TMPFS }], /root mount but of type TMPFS/],
      [[root, { dest: '/s', mountType: MountType.SECRET }], /secret mount without secret options/],
      [
        [root, { dest: '/c', mountType: MountType.CACHE, input: -1n, output: -1n }],
        /cache mount without cache options/,
      ],
      [[root, { dest: '/t', mountType: 9 }], /unknown type 9/],
      [[root], /exec op has no args/, []],
      [[], /exec op has no mounts/],
    ];
    for (const [mounts, pattern, args] of cases) {
      refused(definition([src, execOp([d], mounts, args)], { op: 1 }).def, pattern);
    }
    const ok = execOp(
      [d],
      [root, { dest: '/o', input: -1n, output: 1n }, { dest: '/r', input: 0n, output: -1n }],
    );
    const graph = decodeDefinition(definition([src, ok], { op: 1, index: 1 }).def);
    assert.equal(graph.vertices.get(graph.result.digest)?.outputs, 2);
    refused(
      definition([src, ok], { op: 1, index: 2 }).def,
      /terminal op reads output 2 of \S+ \(exec\), which has 2/,
    );
  });

  it('refuses file ops with bad action indexes, outputs and loops', () => {
    const src = source('docker-image://docker.io/library/busybox:latest');
    const d = sha256(encodeOp(src));
    const file = (actions: object[]): Op =>
      create(OpSchema, {
        inputs: [{ digest: d }],
        op: { case: 'file', value: { actions: actions as never } },
      });
    const mk = { case: 'mkdir', value: { path: '/x' } };
    const cases: [object[], RegExp][] = [
      [
        [{ input: 2n, secondaryInput: -1n, output: 0n, action: mk }],
        /action 0 reads input 2, out of range -1…1/,
      ],
      [[{ input: 0n, secondaryInput: -2n, output: 0n, action: mk }], /secondary input -2/],
      [[{ input: 0n, secondaryInput: -1n, output: -1n, action: mk }], /file op has no output$/],
      [[{ input: 0n, secondaryInput: -1n, output: 1n, action: mk }], /file op has no output 0/],
      [[{ input: 0n, secondaryInput: -1n, output: 0n }], /action 0 has no action kind/],
      [
        [
          { input: 2n, secondaryInput: -1n, output: -1n, action: mk },
          { input: 1n, secondaryInput: -1n, output: 0n, action: mk },
        ],
        /file actions read each other in a loop/,
      ],
      [
        [
          {
            input: 0n,
            secondaryInput: -1n,
            output: 0n,
            action: {
              case: 'mkdir',
              value: {
                path: '/x',
                owner: { user: { user: { case: 'byName', value: { name: 'u', input: -1n } } } },
              },
            },
          },
        ],
        /resolves owner "u" in input -1/,
      ],
      [[], /file op has no actions/],
    ];
    for (const [actions, pattern] of cases) refused(definition([src, file(actions)], { op: 1 }).def, pattern);
    const chained = file([
      { input: 0n, secondaryInput: -1n, output: -1n, action: mk },
      { input: 1n, secondaryInput: 0n, output: 0n, action: { case: 'copy', value: { src: '/', dest: '/' } } },
    ]);
    assert.equal(decodeDefinition(definition([src, chained], { op: 1 }).def).vertices.size, 2);
  });

  it('refuses merge and diff ops with bad inputs', () => {
    const src = source('local://x');
    const d = sha256(encodeOp(src));
    const merge1 = create(OpSchema, {
      inputs: [{ digest: d }],
      op: { case: 'merge', value: { inputs: [{ input: 1n }] } },
    });
    refused(definition([src, merge1], { op: 1 }).def, /merge input 0 reads input 1 of 1/);
    const empty = create(OpSchema, { op: { case: 'merge', value: {} } });
    refused(definition([empty], { op: 0 }).def, /merge op has no inputs/);
    const half = create(OpSchema, {
      inputs: [{ digest: d }],
      op: { case: 'diff', value: { lower: { input: 0n } } },
    });
    refused(definition([src, half], { op: 1 }).def, /needs both a lower and an upper/);
    const far = create(OpSchema, {
      inputs: [{ digest: d }],
      op: { case: 'diff', value: { lower: { input: 0n }, upper: { input: 3n } } },
    });
    refused(definition([src, far], { op: 1 }).def, /diff upper reads input 3 of 1/);
  });

  it('refuses malformed source identifiers', () => {
    const cases: [string, RegExp][] = [
      ['ftp://example.com/x', /unknown scheme "ftp"/],
      ['busybox', /has no scheme/],
      ['local://', /names nothing/],
      ['docker-image://docker.io/library/busybox', /neither a tag nor a digest/],
      ['docker-image://docker.io/library/Busy:latest', /is not valid/],
    ];
    for (const [id, pattern] of cases) refused(definition([source(id)], { op: 0 }).def, pattern);
    const withInput = create(OpSchema, {
      inputs: [{ digest: sha256(encodeOp(source('local://x'))) }],
      op: { case: 'source', value: { identifier: 'local://y' } },
    });
    refused(
      definition([source('local://x'), withInput], { op: 1 }).def,
      /source op has 1 inputs, expected none/,
    );
  });

  it('refuses caps outside the supported list, on ops and on the terminal', () => {
    const src = source('git://github.com/moby/buildkit.git');
    const { def, digests } = definition([src], { op: 0 }, {});
    const withCaps = (caps: Record<string, boolean>, digest: string) =>
      create(DefinitionSchema, { ...def, metadata: { [digest]: create(OpMetadataSchema, { caps }) } });
    refused(
      withCaps({ 'source.git': true, 'source.git.checksum': true }, digests[0]!),
      /requires LLB cap "source\.git\.checksum"/,
    );
    const terminalDigest = sha256(def.def[1]!);
    refused(
      withCaps({ 'exporter.multiple': false }, terminalDigest),
      /\(terminal\): requires LLB cap "exporter\.multiple"/,
    );
    assert.ok(decodeDefinition(withCaps({ 'source.git': true }, digests[0]!)));
    refused(withCaps({ 'source.git': true }, digests[0]!), /"source\.git"/, { supportedCaps: ['platform'] });
  });

  it('refuses definitions past the op and byte limits before decoding them', () => {
    const { def } = definition([source('local://x'), source('local://y')], { op: 0 });
    refused(def, /has 3 ops, more than the limit of 2/, { maxOps: 2 });
    refused(def, /more than the limit of 10/, { maxBytes: 10 });
    refused(toBinary(DefinitionSchema, def), /bytes, more than the limit of 10/, { maxBytes: 10 });
  });

  it('accepts the chained file actions the builder writes', () => {
    const st = image('busybox').file(mkdir('/a', 0o755).mkdir('/a/b', 0o755).rm('/a/b'));
    const graph = decodeDefinition(marshal(st, { platform: amd64 }));
    assert.equal(graph.vertices.get(graph.result.digest)?.kind, 'file');
  });

  it('finds cycles in graphs assembled by hand', () => {
    const d = (n: number) => `sha256:${String(n).repeat(64)}` as Digest;
    const graph = new Map([
      [d(1), { inputDigests: [] }],
      [d(2), { inputDigests: [d(1), d(4)] }],
      [d(3), { inputDigests: [d(2)] }],
      [d(4), { inputDigests: [d(3)] }],
      [d(5), { inputDigests: [d(4)] }],
    ]);
    assert.ok([d(2), d(3), d(4)].includes(findCycle(graph)!));
    graph.set(d(2), { inputDigests: [d(1)] });
    assert.equal(findCycle(graph), undefined);
  });
});
