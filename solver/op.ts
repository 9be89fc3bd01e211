import type { Descriptor, Digest, Platform } from '../oci/index.js';
import type { Op } from '../proto/gen/pb/ops_pb.js';
import type { StatusUpdate } from './progress.js';

/**
 * A result known only as layers somewhere else (an imported remote cache): nothing is downloaded
 * until a step needs its files; exporters can reuse the layers as they are.
 */
export interface LazyLayers {
  /** The layer chain, base first, with their uncompressed digests. */
  readonly layers: ReadonlyArray<{ readonly descriptor: Descriptor; readonly diffId: Digest }>;
  /** Fetches and unpacks the layers (once) and returns the committed snapshot. */
  materialize(signal: AbortSignal): Promise<string | undefined>;
}

/**
 * One output of a vertex: a committed snapshot, or nothing for an empty (scratch) result, or
 * layers not fetched yet (`lazy`, with `snapshot` undefined until materialized).
 */
export interface ResultRef {
  readonly snapshot: string | undefined;
  readonly lazy?: LazyLayers;
}

/** The snapshot of a result, fetching a lazy one first. */
export async function snapshotOf(ref: ResultRef, signal: AbortSignal): Promise<string | undefined> {
  if (ref.snapshot !== undefined || !ref.lazy) return ref.snapshot;
  return ref.lazy.materialize(signal);
}

/** A result with its files on disk (lazy results fetched). */
export async function materialized(ref: ResultRef, signal: AbortSignal): Promise<ResultRef> {
  return ref.lazy && ref.snapshot === undefined ? { snapshot: await ref.lazy.materialize(signal) } : ref;
}

/**
 * A step as a remote cache may need it to find the step under another tool's keys (BuildKit's
 * own cache keys are computed from the LLB op, its platform and its inputs' keys).
 */
export interface RemoteStep {
  readonly op: Op;
  readonly platform: Platform;
  /** The output the key is for. */
  readonly output: number;
  /** The steps producing the op's inputs, each with the output it takes. */
  inputs(): readonly RemoteStep[];
}

/** A remote cache a build imported: results by cache key, fetched lazily. */
export interface RemoteCache {
  lookup(key: string, signal: AbortSignal, step?: RemoteStep): Promise<LazyLayers | undefined>;
}

export const emptyRef: ResultRef = { snapshot: undefined };

/** Which part of an input a content-based dependency covers. */
export interface Selector {
  readonly path: string;
  readonly followLinks: boolean;
  readonly wildcard: boolean;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
}

/**
 * How one input contributes to the cache key: by the input's own cache key, or (contentBased)
 * by a checksum of the selected paths of its result, so an input rebuilt with identical content
 * still gives a hit.
 */
export interface DepSpec {
  readonly contentBased: boolean;
  readonly selectors: readonly Selector[];
}

/** What an op contributes to its cache key: its own normalised digest and one DepSpec per input. */
export interface CacheMap {
  readonly digest: string;
  readonly deps: readonly DepSpec[];
}

/** How an op reports progress on its vertex. */
export interface VertexProgress {
  status(status: StatusUpdate): void;
  log(stream: 1 | 2, data: Uint8Array): void;
  warn(short: string, detail?: readonly string[]): void;
}

/** What an op sees of the build it runs in. */
export interface OpContext {
  readonly digest: string;
  readonly platform: Platform;
  readonly signal: AbortSignal;
  readonly progress: VertexProgress;
  /** Session ids of the jobs that want this vertex, most recent first. */
  readonly sessionIds: () => readonly string[];
  /** Entitlements every job wanting this vertex was granted. */
  readonly entitlements: () => ReadonlySet<string>;
}

/**
 * One LLB op's implementation: cache rules beside execution, as in BuildKit. `cacheMap` may do
 * I/O that decides identity (resolving an image tag, transferring a local directory); `exec` runs
 * only on a cache miss and returns one ref per output.
 */
export interface SolverOp {
  readonly outputs: number;
  /** The `RecordType` shown by `buildctl du` for results of this op. */
  readonly recordType: string;
  /**
   * Its `cacheMap` is the op's whole work (a local source's transfer), so a cache hit is shown
   * DONE rather than CACHED, as BuildKit shows a context that was sent again.
   */
  readonly workInCacheMap?: boolean;
  cacheMap(ctx: OpContext): Promise<CacheMap>;
  exec(ctx: OpContext, inputs: readonly ResultRef[]): Promise<readonly ResultRef[]>;
}
