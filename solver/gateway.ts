import { parsePlatform, type Digest, type Platform } from '../oci/index.js';
import type { Definition } from '../proto/gen/pb/ops_pb.js';
import { imagesForPlatform, SourceCapture, type BuildSources, type ImageSource } from './build-sources.js';
import { SolveRequestError } from './errors.js';
import type {
  FileStat,
  Frontend,
  GatewayClient,
  GatewayRef,
  GatewayResult,
  GatewaySolveRequest,
  ResolveImageOptions,
  ResolvedImageConfig,
} from './gateway-client.js';
import { newId, type Job } from './job.js';
import { materialized, type ResultRef } from './op.js';
import { baseImage, resultChain, type OpOutput } from './result-chain.js';
import type { Scheduler, SolverGraph } from './scheduler.js';

/** A definition made ready for the scheduler: its validated ops and the result it asks for. */
export interface LoadedDefinition {
  readonly graph: SolverGraph;
  readonly target: { readonly digest: string; readonly index: number };
}

/** Read access to results' files (mounting them read-only as needed). */
export interface SnapshotFiles {
  readFile(ref: ResultRef, path: string, range?: { offset: number; length: number }): Promise<Uint8Array>;
  readDir(ref: ResultRef, path: string, includePattern?: string): Promise<FileStat[]>;
  stat(ref: ResultRef, path: string): Promise<FileStat>;
}

export interface ImageConfigResolver {
  resolve(
    ref: string,
    options: ResolveImageOptions & { job: Job; signal: AbortSignal },
  ): Promise<ResolvedImageConfig>;
}

export interface GatewayServices {
  readonly scheduler: Scheduler;
  readonly loadDefinition: (definition: Definition) => LoadedDefinition;
  readonly frontends: ReadonlyMap<string, Frontend>;
  readonly files: SnapshotFiles;
  readonly images: ImageConfigResolver;
  readonly workerPlatforms: readonly Platform[];
  /** Told the op outputs a definition's result is stacked on, before it is built (see build). */
  readonly prepare?: (chain: readonly OpOutput[]) => void;
}

/**
 * The frontend request a result came from. BuildKit's provenance names the frontend and the
 * arguments of the request whose result an exporter gets, which for a client-side build function
 * (docker buildx) is the frontend the client asked LLBBridge.Solve for, not Control.Solve's.
 */
export interface FrontendRun {
  readonly frontend: string;
  readonly frontendOpt: Readonly<Record<string, string>>;
}

interface HeldRef {
  readonly ref: ResultRef;
  readonly definition?: Definition;
  /** The cache key of the result, when the solver produced it (not for scratch). */
  readonly key?: string;
}

/**
 * The gateway of one job: what buildctl's LLBBridge calls and the built-in frontends use. Results
 * are handed out as opaque ids that stay valid until the job ends.
 */
export class JobGateway {
  readonly #refs = new Map<string, HeldRef>();
  /** Ref id → the frontend request whose result handed it out. */
  readonly #producedBy = new Map<string, FrontendRun>();
  /** Images frontends resolved (ResolveImageConfig), for provenance. */
  readonly #resolvedImages: ImageSource[] = [];

  constructor(
    readonly job: Job,
    private readonly services: GatewayServices,
  ) {}

  /** A client for a frontend, seeing `frontendOpt` as its options. */
  client(
    frontendOpt: Readonly<Record<string, string>>,
    inputs: ReadonlyMap<string, Definition> = new Map(),
  ): GatewayClient {
    const job = this.job;
    return {
      frontendOpt,
      sessionId: job.options.sessionId,
      workerPlatforms: this.services.workerPlatforms,
      solve: (request, signal) => this.solve(request, signal),
      readFile: async (ref, path, range) =>
        this.services.files.readFile(await materialized(this.resolve(ref), job.signal), path, range),
      readDir: async (ref, path, include) =>
        this.services.files.readDir(await materialized(this.resolve(ref), job.signal), path, include),
      statFile: async (ref, path) =>
        this.services.files.stat(await materialized(this.resolve(ref), job.signal), path),
      resolveImageConfig: async (ref, options) => {
        const resolved = await this.services.images.resolve(ref, { ...options, job, signal: job.signal });
        this.#resolvedImages.push({
          ref,
          ...(options?.platform ? { platform: options.platform } : {}),
          digest: resolved.digest as Digest,
        });
        return resolved;
      },
      inputs: () => inputs,
      warn: (message) =>
        job.progress.write({
          type: 'warning',
          warning: { vertex: '', level: 1, short: message, detail: [] },
        }),
    };
  }

  /**
   * Solves a definition, or runs a frontend by name. `final`: the definition's result is the
   * build's (Control.Solve's own definition), not one a frontend or build function may discard.
   */
  async solve(
    request: GatewaySolveRequest,
    signal?: AbortSignal,
    options: { final?: boolean } = {},
  ): Promise<GatewayResult> {
    signal?.throwIfAborted();
    if (request.definition && request.definition.def.length > 0) {
      return this.#build(this.services.loadDefinition(request.definition), request.definition, options);
    }
    if (request.frontend) {
      const frontend = this.services.frontends.get(request.frontend);
      if (!frontend) {
        throw new SolveRequestError(
          `unsupported frontend ${JSON.stringify(request.frontend)} (kiln has ${[...this.services.frontends.keys()].join(', ')})`,
        );
      }
      const frontendOpt = request.frontendOpt ?? {};
      const result = await frontend(this.client(frontendOpt, request.frontendInputs), this.job.signal, this);
      // Set after the frontend returns, so a frontend running another one is the one recorded.
      for (const ref of refsOf(result))
        this.#producedBy.set(ref.id, { frontend: request.frontend, frontendOpt });
      return result;
    }
    // An empty request (no definition, no frontend) asks for an empty result.
    return { metadata: new Map() };
  }

  /**
   * Builds a loaded definition; the result is held under a new ref id. First tells `prepare` what
   * the result is stacked on: the whole chain for a final definition; for any other (a frontend's
   * or build function's, usually the result but perhaps discarded) only an image it starts from,
   * whose layers are already public in a registry.
   */
  async #build(
    loaded: LoadedDefinition,
    definition: Definition,
    options: { final?: boolean },
  ): Promise<GatewayResult> {
    if (this.services.prepare) {
      const chain = resultChain(loaded.graph, loaded.target);
      this.services.prepare(options.final ? chain : baseImage(loaded.graph, chain));
    }
    const { ref, key } = await this.services.scheduler.build(loaded.graph, loaded.target, this.job);
    return { ref: this.hold(ref, definition, key), metadata: new Map() };
  }

  /** The frontend request whose result holds `result`'s refs (the outermost one), if any. */
  frontendOf(result: GatewayResult): FrontendRun | undefined {
    for (const ref of refsOf(result)) {
      const run = this.#producedBy.get(ref.id);
      if (run) return run;
    }
    return undefined;
  }

  /**
   * What each result ref was built from (`''` for a single result, platform ids for a
   * multi-platform one), as BuildKit's provenance counts it: the ref's own definition, every
   * other definition solved in the job (the frontend's reads of its Dockerfile, say), and the
   * images frontends resolved.
   */
  sourcesOf(result: GatewayResult): Map<string, BuildSources> {
    const entries: Array<[string, GatewayRef]> = [
      ...(result.ref ? [['', result.ref] as [string, GatewayRef]] : []),
      ...(result.refs ?? []),
    ];
    const inResult = new Set(entries.map(([, ref]) => ref.id));
    const others = [...this.#refs]
      .filter(([id, held]) => !inResult.has(id) && held.definition)
      .map(([, held]) => held.definition!);
    const platforms = [...(result.refs?.keys() ?? [])].map((p) => parsePlatform(p));
    const out = new Map<string, BuildSources>();
    for (const [key, ref] of entries) {
      const capture = new SourceCapture();
      const own = this.definitionOf(ref);
      for (const definition of new Set([...(own ? [own] : []), ...others])) capture.addDefinition(definition);
      const current = key === '' ? undefined : parsePlatform(key);
      for (const image of imagesForPlatform(this.#resolvedImages, platforms, current))
        capture.addImage(image);
      out.set(key, capture.sources());
    }
    return out;
  }

  hold(ref: ResultRef, definition?: Definition, key?: string): GatewayRef {
    const id = newId();
    this.#refs.set(id, { ref, ...(definition ? { definition } : {}), ...(key ? { key } : {}) });
    return { id };
  }

  keyOf(ref: GatewayRef): string | undefined {
    return this.#refs.get(ref.id)?.key;
  }

  resolve(ref: GatewayRef): ResultRef {
    if (ref.id === '') return { snapshot: undefined };
    const held = this.#refs.get(ref.id);
    if (!held)
      throw new SolveRequestError(
        `no such result ref ${JSON.stringify(ref.id)} in build ${this.job.ref}`,
        'not-found',
      );
    return held.ref;
  }

  definitionOf(ref: GatewayRef): Definition | undefined {
    return this.#refs.get(ref.id)?.definition;
  }
}

function refsOf(result: GatewayResult): GatewayRef[] {
  return [...(result.ref ? [result.ref] : []), ...(result.refs?.values() ?? [])];
}
