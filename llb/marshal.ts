import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import {
  DefinitionSchema,
  ExportCacheSchema,
  LocationSchema,
  LocationsSchema,
  OpMetadataSchema,
  OpSchema,
  PositionSchema,
  ProgressGroupSchema,
  RangeSchema,
  SourceInfoSchema,
  SourceSchema,
  type Definition,
  type Location,
  type OpMetadata,
} from '../proto/gen/pb/ops_pb.js';
import { hostPlatform, sha256, type Digest, type Platform } from '../oci/index.js';
import { encodeOp } from './encode.js';
import { LlbBuildError } from './errors.js';
import type { State } from './state.js';
import {
  mergeMetadata,
  readableOutput,
  type MarshalContext,
  type Output,
  type SourceMap,
  type Vertex,
  type VertexMetadata,
} from './vertex.js';

export interface MarshalOptions {
  /** Platform of ops that pin none and inherit none; default: the host's. */
  readonly platform?: Platform;
  /**
   * The caps of the daemon that will run the definition. When given, exec ops record
   * `exec.meta.setsdefaultpath` if it is supported, and otherwise get a default PATH written in.
   */
  readonly caps?: Iterable<string>;
  /** `local.unique` of local sources without a session; default: random per call. */
  readonly localUniqueId?: string;
  /** Marks every op ignore-cache (`--no-cache`). */
  readonly ignoreCache?: boolean;
  /** Worker constraint filters put on every op. */
  readonly workerConstraints?: readonly string[];
}

interface Marshalled {
  readonly digest: Digest;
}

// 25 base-36 characters, like BuildKit's identity.NewID.
function newId(): string {
  const bytes = randomBytes(17);
  return BigInt(`0x${bytes.toString('hex')}`)
    .toString(36)
    .padStart(25, '0')
    .slice(-25);
}

/** The vertices under `root`, inputs before users, each once (iterative: deep graphs are fine). */
function postOrder(root: Vertex): Vertex[] {
  const order: Vertex[] = [];
  const status = new Map<Vertex, 'open' | 'done'>();
  const stack: Vertex[] = [root];
  while (stack.length > 0) {
    const v = stack[stack.length - 1]!;
    const st = status.get(v);
    if (st !== undefined) {
      stack.pop();
      if (st === 'open') {
        status.set(v, 'done');
        order.push(v);
      }
      continue;
    }
    status.set(v, 'open');
    const inputs = v.inputs();
    for (let i = inputs.length - 1; i >= 0; i--) {
      const u = inputs[i]!.vertex;
      if (!status.has(u)) stack.push(u);
    }
  }
  return order;
}

function toOpMetadata(md: VertexMetadata): OpMetadata {
  return create(OpMetadataSchema, {
    ignoreCache: md.ignoreCache,
    description: { ...md.description },
    ...(md.exportCache !== undefined
      ? { exportCache: create(ExportCacheSchema, { Value: md.exportCache }) }
      : {}),
    caps: Object.fromEntries([...md.caps].map((c) => [c, true])),
    ...(md.progressGroup
      ? {
          progressGroup: create(ProgressGroupSchema, {
            id: md.progressGroup.id,
            name: md.progressGroup.name,
            weak: md.progressGroup.weak === true,
          }),
        }
      : {}),
  });
}

/**
 * Encodes the graph under `state` as a `Definition`: one walk, ops de-duplicated by digest, inputs
 * before users, the terminal op (one input: the state's output) last. Op bytes, and so digests,
 * equal what BuildKit's Go client produces for the same graph; `encodeDefinition` gives the whole
 * message's bytes as Go writes them. Scratch gives an empty Definition. Throws LlbBuildError for
 * graphs that cannot be encoded (missing exec args, unreadable mount outputs, …). Cost: linear in
 * the graph.
 */
export function marshal(state: State, options: MarshalOptions = {}): Definition {
  const root = state.output;
  if (!root) return create(DefinitionSchema, {});
  const done = new Map<Vertex, Marshalled>();
  const ctx: MarshalContext = {
    // As in Go, an explicit platform is used as given; only the host default is normalised.
    platform: options.platform ?? hostPlatform(),
    workerConstraints: [...(options.workerConstraints ?? [])],
    ignoreCache: options.ignoreCache === true,
    caps: options.caps ? new Set(options.caps) : undefined,
    localUniqueId: options.localUniqueId ?? newId(),
    input(output: Output) {
      readableOutput(output, output.vertex.kind);
      const m = done.get(output.vertex);
      if (!m) throw new LlbBuildError({ message: 'input vertex was not marshalled before its user' });
      return { digest: m.digest, index: output.index };
    },
  };
  const defs: Uint8Array[] = [];
  const metadata = new Map<string, VertexMetadata>();
  const sourceMaps = new Map<SourceMap, number>();
  const infos: SourceMap[] = [];
  const locations = new Map<string, Location[]>();
  for (const vertex of postOrder(root.vertex)) {
    const m = vertex.marshal(ctx);
    const bytes = encodeOp(m.op);
    const digest = sha256(bytes);
    done.set(vertex, { digest });
    const previous = metadata.get(digest);
    metadata.set(digest, previous ? mergeMetadata(previous, m.metadata) : m.metadata);
    const locs = locations.get(digest) ?? [];
    for (const loc of m.sourceLocations) {
      let index = sourceMaps.get(loc.sourceMap);
      if (index === undefined) {
        index = infos.length;
        sourceMaps.set(loc.sourceMap, index);
        infos.push(loc.sourceMap);
      }
      locs.push(
        create(LocationSchema, {
          sourceIndex: index,
          ranges: loc.ranges.map((r) =>
            create(RangeSchema, {
              start: create(PositionSchema, { line: r.start.line, character: r.start.character ?? 0 }),
              end: create(PositionSchema, { line: r.end.line, character: r.end.character ?? 0 }),
            }),
          ),
        }),
      );
    }
    locations.set(digest, locs);
    if (!previous) defs.push(bytes);
  }

  const result = ctx.input(readableOutput(root, 'result'));
  const terminal = encodeOp(
    create(OpSchema, { inputs: [{ digest: result.digest, index: BigInt(result.index) }] }),
  );
  const caps = new Set(['constraints', 'platform']);
  for (const md of metadata.values()) {
    if (md.ignoreCache) caps.add('meta.ignorecache');
    if (md.description !== undefined) caps.add('meta.description');
    if (md.exportCache !== undefined) caps.add('meta.exportcache');
  }
  const terminalDigest = sha256(terminal);
  metadata.set(terminalDigest, { ...(metadata.get(terminalDigest) ?? { ignoreCache: false }), caps });
  defs.push(terminal);

  return create(DefinitionSchema, {
    def: defs,
    metadata: Object.fromEntries([...metadata].map(([d, md]) => [d, toOpMetadata(md)])),
    Source: create(SourceSchema, {
      locations: Object.fromEntries(
        [...locations].map(([d, locs]) => [d, create(LocationsSchema, { locations: locs })]),
      ),
      infos: infos.map((sm) =>
        create(SourceInfoSchema, {
          filename: sm.filename,
          data: typeof sm.data === 'string' ? Buffer.from(sm.data, 'utf8') : sm.data,
          language: sm.language ?? '',
        }),
      ),
    }),
  });
}
