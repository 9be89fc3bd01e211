import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Platform } from '../oci/index.js';
import type { CacheStore } from './cache-store.js';
import { outputKeys, type DepKey } from './cache-key.js';
import { JobCanceledError, VertexError } from './errors.js';
import { vertexChannel, type VertexEvent } from './events.js';
import type { LlbOpView } from './llb-view.js';
import {
  materialized,
  type OpContext,
  type RemoteCache,
  type RemoteStep,
  type ResultRef,
  type Selector,
  type SolverOp,
} from './op.js';
import {
  SharedVertex,
  type KeyParts,
  type VertexOutcome,
  type VertexState,
  type VertexSubscriber,
} from './vertex.js';

/** One step of a build as history keeps it. */
export interface StepRecord {
  readonly digest: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly state: VertexState['kind'];
  readonly started?: number;
  readonly completed?: number;
  readonly error?: string;
  readonly keyParts?: KeyParts;
  readonly source?: string;
}

/** A job as the scheduler sees it (and its vertices, as their subscriber). */
export interface SchedulerJob extends VertexSubscriber {
  readonly ref: string;
  readonly signal: AbortSignal;
  readonly sessionIds: readonly string[];
  readonly entitlements: ReadonlySet<string>;
  /** The per-build cap (`kiln.max-parallelism`), when the build asked for one. */
  readonly queue?: PQueue;
  /** Caches the build imported (`--import-cache`), consulted after a local miss. */
  readonly remoteCaches?: readonly RemoteCache[];
}

/** A validated definition: its ops by digest and the default platform for ops that name none. */
export interface SolverGraph {
  readonly ops: ReadonlyMap<string, LlbOpView>;
}

export type OpFactory = (view: LlbOpView, platform: Platform) => SolverOp;

export interface ContentChecksummer {
  /** A checksum of the content at the selected paths of a result (never of its mtimes). */
  checksum(ref: ResultRef, selectors: readonly Selector[], signal: AbortSignal): Promise<string>;
}

export interface SchedulerOptions {
  readonly ops: OpFactory;
  readonly cache: CacheStore;
  readonly checksums: ContentChecksummer;
  readonly defaultPlatform: Platform;
  /** Concurrent op executions on this worker; undefined = unbounded. */
  readonly maxParallelism?: number;
  readonly logger?: Logger;
}

interface JobState {
  readonly job: SchedulerJob;
  readonly vertices: Set<SharedVertex>;
}

/**
 * Evaluates definitions against the daemon-wide vertex table. A vertex is keyed by op digest
 * and shared by every job that contains it, so the same step requested by concurrent builds runs
 * once and all of them see its progress. Only vertices reachable from the requested result are
 * evaluated. Each vertex computes its cache key from its op and its inputs; a hit never runs the
 * op. Op executions go through one queue bounded by max-parallelism (and a job's own cap).
 */
export class Scheduler {
  readonly #vertices = new Map<string, SharedVertex>();
  readonly #jobs = new Map<SchedulerJob, JobState>();
  readonly #queue: PQueue;
  readonly #options: SchedulerOptions;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#queue = new PQueue({ concurrency: options.maxParallelism ?? Number.POSITIVE_INFINITY });
  }

  /** Builds `target` (an op digest and output index) of `graph` for `job`. */
  async build(
    graph: SolverGraph,
    target: { readonly digest: string; readonly index: number },
    job: SchedulerJob,
  ): Promise<{ ref: ResultRef; key: string }> {
    job.signal.throwIfAborted();
    const state = this.#jobState(job);
    this.#attachReachable(graph, target.digest, state);
    const vertex = this.#vertices.get(target.digest)!;
    const outcome = await raceAbort(
      this.#evaluate(vertex, state),
      job.signal,
      () => new JobCanceledError(job.ref),
    );
    return { ref: outcome.refs[target.index]!, key: outcome.keys[target.index]! };
  }

  /** Detaches a finished or cancelled job; vertices nobody wants any more stop and are forgotten. */
  release(job: SchedulerJob): void {
    const state = this.#jobs.get(job);
    if (!state) return;
    this.#jobs.delete(job);
    for (const vertex of state.vertices) {
      vertex.detach(job);
      if (vertex.subscriberCount > 0) continue;
      if (vertex.state.kind === 'running' || vertex.state.kind === 'waiting') vertex.abort.abort();
      this.#vertices.delete(vertex.digest);
    }
  }

  /** Snapshots that vertices of running jobs hold (they must not be pruned). */
  snapshotsInUse(): Set<string> {
    const out = new Set<string>();
    for (const vertex of this.#vertices.values()) {
      const s = vertex.state;
      if (s.kind === 'cached' || s.kind === 'done') {
        for (const ref of s.outcome.refs) if (ref.snapshot) out.add(ref.snapshot);
      }
    }
    return out;
  }

  /** The settled vertices a job contains, with their keys and results (for cache export). */
  outcomesOf(job: SchedulerJob): Array<{
    digest: string;
    name: string;
    keys: readonly string[];
    refs: readonly ResultRef[];
    op: LlbOpView['op'];
  }> {
    const state = this.#jobs.get(job);
    if (!state) return [];
    const out = [];
    for (const vertex of state.vertices) {
      const s = vertex.state;
      if (s.kind === 'cached' || s.kind === 'done') {
        out.push({
          digest: vertex.digest,
          name: vertex.view.name,
          keys: s.outcome.keys,
          refs: s.outcome.refs,
          op: vertex.view.op,
        });
      }
    }
    return out;
  }
  /** Every vertex a job contains, as a record of the step (for build history and insight). */
  stepsOf(job: SchedulerJob): StepRecord[] {
    const state = this.#jobs.get(job);
    if (!state) return [];
    return [...state.vertices].map((vertex) => {
      const record = vertex.record();
      return {
        digest: vertex.digest,
        name: record.name,
        inputs: [...vertex.view.inputDigests],
        state: vertex.state.kind,
        ...(record.started ? { started: record.started.getTime() } : {}),
        ...(record.completed ? { completed: record.completed.getTime() } : {}),
        ...(record.error ? { error: record.error } : {}),
        ...(vertex.keyParts ? { keyParts: vertex.keyParts } : {}),
        ...(vertex.view.op.op.case === 'source' ? { source: vertex.view.op.op.value.identifier } : {}),
      };
    });
  }

  /** Op executions waiting for a slot under max-parallelism. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Op executions running now. */
  get running(): number {
    return this.#queue.pending;
  }

  /** Vertices in the table (for tests and metrics). */
  get vertexCount(): number {
    return this.#vertices.size;
  }

  #jobState(job: SchedulerJob): JobState {
    let state = this.#jobs.get(job);
    if (!state) {
      state = { job, vertices: new Set() };
      this.#jobs.set(job, state);
    }
    return state;
  }

  /** Announces (and shares) every vertex reachable from `root`, inputs first. */
  #attachReachable(graph: SolverGraph, root: string, state: JobState): void {
    const order: string[] = [];
    const seen = new Set<string>([root]);
    const stack = [root];
    while (stack.length > 0) {
      const digest = stack.pop()!;
      order.push(digest);
      for (const input of graph.ops.get(digest)?.inputDigests ?? []) {
        if (!seen.has(input)) {
          seen.add(input);
          stack.push(input);
        }
      }
    }
    for (const digest of order.reverse()) {
      let vertex = this.#vertices.get(digest);
      if (!vertex) {
        vertex = new SharedVertex(digest, graph.ops.get(digest)!);
        this.#vertices.set(digest, vertex);
      }
      vertex.attach(state.job);
      state.vertices.add(vertex);
    }
  }

  #evaluate(vertex: SharedVertex, state: JobState): Promise<VertexOutcome> {
    vertex.outcome ??= this.#run(vertex, state);
    return vertex.outcome;
  }

  async #run(vertex: SharedVertex, state: JobState): Promise<VertexOutcome> {
    // Yield first: evaluating a deep chain then unwinds through the microtask queue, not the stack.
    await Promise.resolve();
    const view = vertex.view;
    const inputs = await Promise.all(
      view.op.inputs.map(async (input) => {
        const producer = this.#vertices.get(input.digest)!;
        const outcome = await this.#evaluate(producer, state);
        const index = Number(input.index);
        return { key: outcome.keys[index]!, ref: outcome.refs[index]! };
      }),
    );
    const signal = vertex.abort.signal;
    const op = this.#options.ops(view, this.#platformOf(view));
    const ctx = this.#context(vertex, signal);
    const isSource = view.op.op.case === 'source';
    let started: Date | undefined;
    try {
      if (isSource) {
        started = new Date();
        vertex.transition({ kind: 'running', started });
      }
      const cacheMap = await op.cacheMap(ctx);
      const deps = await Promise.all(
        cacheMap.deps.map(async (dep, i): Promise<DepKey> => {
          const input = inputs[i]!;
          if (!dep.contentBased) return { key: input.key, selectors: dep.selectors };
          return { checksum: await this.#options.checksums.checksum(input.ref, dep.selectors, signal) };
        }),
      );
      const keys = outputKeys(cacheMap, deps, op.outputs);
      vertex.keyParts = {
        opDigest: cacheMap.digest,
        deps: deps.map((d, i) => ({
          vertex: view.op.inputs[i]?.digest ?? '',
          ...('checksum' in d ? { checksum: d.checksum } : { key: d.key }),
          selectors: cacheMap.deps[i]?.selectors.map((s) => s.path) ?? [],
          ...(inputs[i]?.ref.snapshot ? { snapshot: inputs[i]!.ref.snapshot } : {}),
        })),
      };
      const hit = view.ignoreCache
        ? undefined
        : (this.#lookup(keys) ?? (await this.#remoteLookup(keys, state.job, signal, view)));
      if (hit) {
        const outcome = { keys, refs: hit };
        const at = new Date();
        vertex.transition(
          op.workInCacheMap
            ? { kind: 'done', started: started ?? at, completed: at, outcome }
            : { kind: 'cached', ...(started ? { started } : {}), at, outcome },
        );
        if (vertexChannel.hasSubscribers) vertexChannel.publish({ state: 'cached' } satisfies VertexEvent);
        return outcome;
      }
      const queue = state.job.queue;
      const run = (): Promise<readonly ResultRef[]> => {
        signal.throwIfAborted();
        started ??= new Date();
        vertex.transition({ kind: 'running', started });
        return Promise.all(inputs.map((i) => materialized(i.ref, signal))).then((refs) => op.exec(ctx, refs));
      };
      const refs = await (queue ? queue.add(() => this.#queue.add(run)) : this.#queue.add(run));
      keys.forEach((key, i) =>
        this.#options.cache.save(key, {
          snapshot: refs[i]!.snapshot,
          description: view.name,
          recordType: op.recordType,
        }),
      );
      const outcome = { keys, refs };
      const completed = new Date();
      vertex.transition({ kind: 'done', started: started ?? completed, completed, outcome });
      if (vertexChannel.hasSubscribers) {
        vertexChannel.publish({
          state: 'done',
          durationMs: completed.getTime() - (started ?? completed).getTime(),
        } satisfies VertexEvent);
      }
      return outcome;
    } catch (cause) {
      const error = signal.aborted
        ? new JobCanceledError(state.job.ref)
        : new VertexError({ digest: vertex.digest, name: view.name }, cause, view.source);
      vertex.transition({
        kind: 'failed',
        ...(started ? { started } : {}),
        completed: new Date(),
        error: signal.aborted ? new Error(`${error.message}: context canceled`) : error,
      });
      this.#options.logger?.debug({ vertex: vertex.digest, err: cause }, 'vertex failed');
      if (vertexChannel.hasSubscribers) vertexChannel.publish({ state: 'failed' } satisfies VertexEvent);
      throw error;
    }
  }

  #lookup(keys: readonly string[]): ResultRef[] | undefined {
    const refs: ResultRef[] = [];
    for (const key of keys) {
      const record = this.#options.cache.lookup(key);
      if (!record) return undefined;
      refs.push({ snapshot: record.snapshot });
    }
    return refs;
  }

  /** Results for every output from a cache the job imported; lazy until something needs files. */
  async #remoteLookup(
    keys: readonly string[],
    job: SchedulerJob,
    signal: AbortSignal,
    view: LlbOpView,
  ): Promise<ResultRef[] | undefined> {
    for (const remote of job.remoteCaches ?? []) {
      const found = await Promise.all(keys.map((key, i) => remote.lookup(key, signal, this.#step(view, i))));
      if (found.every((f) => f !== undefined)) {
        return found.map((lazy, i) => {
          const key = keys[i]!;
          let fetched: Promise<string | undefined> | undefined;
          return {
            snapshot: undefined,
            lazy: {
              layers: lazy.layers,
              // Fetched once; from then on the result is cached locally like any other.
              materialize: (s: AbortSignal) =>
                (fetched ??= lazy.materialize(s).then((snapshot) => {
                  this.#options.cache.save(key, { snapshot, description: 'imported from remote cache' });
                  return snapshot;
                })),
            },
          };
        });
      }
    }
    return undefined;
  }

  /** A step as remote caches see it; its inputs are the vertices of the table (evaluated before it). */
  #step(view: LlbOpView, output: number): RemoteStep {
    return {
      op: view.op,
      platform: this.#platformOf(view),
      output,
      inputs: () =>
        view.op.inputs.flatMap((input) => {
          const producer = this.#vertices.get(input.digest);
          return producer ? [this.#step(producer.view, Number(input.index))] : [];
        }),
    };
  }

  #platformOf(view: LlbOpView): Platform {
    const p = view.op.platform;
    if (!p || !p.OS || !p.Architecture) return this.#options.defaultPlatform;
    return {
      os: p.OS,
      architecture: p.Architecture,
      ...(p.Variant ? { variant: p.Variant } : {}),
    };
  }

  #context(vertex: SharedVertex, signal: AbortSignal): OpContext {
    const jobs = (): SchedulerJob[] =>
      [...this.#jobs.values()].filter((s) => s.vertices.has(vertex)).map((s) => s.job);
    return {
      digest: vertex.digest,
      platform: this.#platformOf(vertex.view),
      signal,
      progress: vertex,
      sessionIds: () =>
        jobs()
          .flatMap((j) => j.sessionIds)
          .reverse(),
      entitlements: () => {
        const all = jobs();
        const granted = new Set(all[0]?.entitlements ?? []);
        for (const job of all.slice(1))
          for (const e of granted) if (!job.entitlements.has(e)) granted.delete(e);
        return granted;
      },
    };
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(error());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(error());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
