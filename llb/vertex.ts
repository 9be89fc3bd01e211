import { create } from '@bufbuild/protobuf';
import {
  PlatformSchema,
  WorkerConstraintsSchema,
  type Op,
  type Platform as PbPlatform,
  type WorkerConstraints,
} from '../proto/gen/pb/ops_pb.js';
import type { Digest, Platform } from '../oci/index.js';
import { LlbBuildError } from './errors.js';

/**
 * The builder's contract for one op. A vertex is immutable once built; `marshal` turns it into a
 * protobuf `Op` (inputs already marshalled, reachable through `ctx.input`) plus its metadata, and
 * may be called once per `marshal()` walk. Encoding and digests belong to marshal.ts alone.
 */
export interface Vertex {
  readonly kind: 'source' | 'exec' | 'file' | 'merge' | 'diff';
  /** The outputs this vertex reads, in the order its `Op.inputs` lists them. */
  inputs(): readonly Output[];
  marshal(ctx: MarshalContext): MarshalledVertex;
}

/** One output of a vertex, as a `State` carries it. `error` marks an output that cannot be read. */
export interface Output {
  readonly vertex: Vertex;
  readonly index: number;
  /** The platform the output was built for, when its op pinned one; states inherit it. */
  readonly platform?: Platform;
  readonly error?: string;
}

export interface MarshalledVertex {
  readonly op: Op;
  readonly metadata: VertexMetadata;
  readonly sourceLocations: readonly SourceLocation[];
}

/** What a `marshal()` call fixes for every vertex it encodes. */
export interface MarshalContext {
  /** The platform of ops that neither pin one nor inherit one from their state. */
  readonly platform: Platform;
  readonly workerConstraints: readonly string[];
  readonly ignoreCache: boolean;
  /** The caps of the daemon the definition is for; undefined when unknown (as in the Go client). */
  readonly caps: ReadonlySet<string> | undefined;
  /** `local.unique` for local sources without a session. */
  readonly localUniqueId: string;
  /** The `Input` naming an already-marshalled output; throws LlbBuildError for unreadable outputs. */
  input(output: Output): { readonly digest: Digest; readonly index: number };
}

/** Per-vertex metadata before encoding (`pb.OpMetadata`). */
export interface VertexMetadata {
  readonly ignoreCache: boolean;
  /** Present (possibly empty) when any option set a description, as Go's non-nil map. */
  readonly description?: Readonly<Record<string, string>>;
  readonly exportCache?: boolean;
  readonly caps: ReadonlySet<string>;
  readonly progressGroup?: ProgressGroup;
}

export interface ProgressGroup {
  readonly id: string;
  readonly name: string;
  readonly weak?: boolean;
}

/** A source file (a Dockerfile, …) that ops can point into for error reporting. Compared by identity. */
export interface SourceMap {
  readonly filename: string;
  readonly data: Uint8Array | string;
  readonly language?: string;
}

export interface SourceLocation {
  readonly sourceMap: SourceMap;
  readonly ranges: readonly SourceRange[];
}

/** A range in a source map; lines and characters as the client counts them (Dockerfile: 1-based lines). */
export interface SourceRange {
  readonly start: { readonly line: number; readonly character?: number };
  readonly end: { readonly line: number; readonly character?: number };
}

/** Options every op-creating function accepts (BuildKit's `ConstraintsOpt`). */
export interface VertexOptions {
  /** Progress display name (`llb.customname`). */
  readonly customName?: string;
  /** Free-form description entries; `customName` wins over a `llb.customname` entry here. */
  readonly description?: Readonly<Record<string, string>>;
  readonly ignoreCache?: boolean;
  /** true/false force or forbid exporting this vertex's result with the cache; unset = default. */
  readonly exportCache?: boolean;
  readonly progressGroup?: ProgressGroup;
  /** Pins the op's platform (otherwise the state's, then the marshal default). */
  readonly platform?: Platform;
  /** Worker constraint filters (`Require`). */
  readonly workerConstraints?: readonly string[];
  readonly sourceLocations?: readonly SourceLocation[];
}

/** The constraints of one vertex, resolved from its options. */
export interface VertexConstraints {
  readonly platform: Platform | undefined;
  readonly workerConstraints: readonly string[];
  readonly metadata: VertexMetadata;
  readonly sourceLocations: readonly SourceLocation[];
}

export function vertexConstraints(options: VertexOptions, platform?: Platform): VertexConstraints {
  let description: Record<string, string> | undefined;
  if (options.description) description = { ...options.description };
  if (options.customName !== undefined)
    description = { ...description, 'llb.customname': options.customName };
  return {
    platform: options.platform ?? platform,
    workerConstraints: [...(options.workerConstraints ?? [])],
    metadata: {
      ignoreCache: options.ignoreCache === true,
      ...(description ? { description } : {}),
      ...(options.exportCache !== undefined ? { exportCache: options.exportCache } : {}),
      caps: new Set(),
      ...(options.progressGroup ? { progressGroup: options.progressGroup } : {}),
    },
    sourceLocations: [...(options.sourceLocations ?? [])],
  };
}

/** BuildKit's mergeMetadata: flags OR-ed, descriptions and caps unioned, later values win. */
export function mergeMetadata(a: VertexMetadata, b: VertexMetadata): VertexMetadata {
  const description = a.description || b.description ? { ...a.description, ...b.description } : undefined;
  const exportCache = b.exportCache ?? a.exportCache;
  const progressGroup = b.progressGroup ?? a.progressGroup;
  return {
    ignoreCache: a.ignoreCache || b.ignoreCache,
    ...(description ? { description } : {}),
    ...(exportCache !== undefined ? { exportCache } : {}),
    caps: new Set([...a.caps, ...b.caps]),
    ...(progressGroup ? { progressGroup } : {}),
  };
}

/**
 * The `platform`, `constraints` and metadata every op starts from (Go's MarshalConstraints): the
 * vertex's platform or the marshal default, the marshal-level worker constraints followed by the
 * vertex's, the marshal-level ignore-cache merged with the vertex metadata plus `caps`.
 */
export function opEnvelope(
  ctx: MarshalContext,
  constraints: VertexConstraints,
  caps: Iterable<string>,
): { platform: PbPlatform; constraints: WorkerConstraints; metadata: VertexMetadata } {
  const p = constraints.platform ?? ctx.platform;
  const base: VertexMetadata = { ignoreCache: ctx.ignoreCache, caps: new Set() };
  const own: VertexMetadata = {
    ...constraints.metadata,
    caps: new Set([...constraints.metadata.caps, ...caps]),
  };
  return {
    platform: create(PlatformSchema, {
      OS: p.os,
      Architecture: p.architecture,
      Variant: p.variant ?? '',
      OSVersion: p.osVersion ?? '',
      OSFeatures: [...(p.osFeatures ?? [])],
    }),
    constraints: create(WorkerConstraintsSchema, {
      filter: [...ctx.workerConstraints, ...constraints.workerConstraints],
    }),
    metadata: mergeMetadata(base, own),
  };
}

/** Throws the LlbBuildError for an unreadable output, naming who wanted it. */
export function readableOutput(output: Output, user: string): Output {
  if (output.error !== undefined) throw new LlbBuildError({ message: output.error, vertex: user });
  return output;
}
