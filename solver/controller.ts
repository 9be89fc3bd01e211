import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Definition, Op } from '../proto/gen/pb/ops_pb.js';
import type { BuildSources } from './build-sources.js';
import { SolveRequestError } from './errors.js';
import { jobChannel, type JobEvent } from './events.js';
import { stepCounts, type BuildHistory, type HistoryStep } from './history.js';
import { JobGateway, type FrontendRun, type GatewayServices } from './gateway.js';
import { opFacets } from './op-facets.js';
import type { GatewayResult } from './gateway-client.js';
import { Job, type CacheOptionEntry, type ExporterRequest } from './job.js';
import type { JobRegistry } from './job-registry.js';
import type { RemoteCache, ResultRef } from './op.js';
import type { OpOutput } from './result-chain.js';
import type { Scheduler } from './scheduler.js';

/** A Control.Solve request, decoded. */
export interface BuildRequest {
  readonly ref: string;
  readonly sessionId: string;
  readonly definition?: Definition;
  readonly frontend: string;
  readonly frontendAttrs: Readonly<Record<string, string>>;
  readonly exporters: readonly ExporterRequest[];
  readonly cacheExports: readonly CacheOptionEntry[];
  readonly cacheImports: readonly CacheOptionEntry[];
  readonly entitlements: readonly string[];
  /** Not recorded in build history (SolveRequest.Internal). */
  readonly internal?: boolean;
}

/** A build's result as exporters take it: refs resolved, frontend metadata attached. */
export interface BuildResult {
  readonly ref?: ResultRef;
  readonly refs?: ReadonlyMap<string, ResultRef>;
  readonly metadata: ReadonlyMap<string, Uint8Array>;
  /** Cache keys of the result refs: `''` for the single ref, platform ids for `refs`. */
  readonly keys: ReadonlyMap<string, string>;
  /** The frontend request the result came from (absent for a bare definition). */
  readonly frontend?: FrontendRun;
  /** What each result ref was built from, keyed as `keys` (for provenance and build info). */
  readonly sources: ReadonlyMap<string, BuildSources>;
}

/** A settled step of the build, for cache export. */
export interface BuiltVertex {
  readonly digest: string;
  readonly name: string;
  readonly keys: readonly string[];
  readonly refs: readonly ResultRef[];
  /** The step's LLB op (cache export reads which cache mounts a build uses from it). */
  readonly op?: Op;
}

/** Exports the build cache (`--export-cache`); returns exporter-response entries (`cache.manifest`). */
export interface CacheExportRunner {
  export(
    entries: readonly CacheOptionEntry[],
    build: { readonly job: Job; readonly result: BuildResult; readonly vertices: readonly BuiltVertex[] },
  ): Promise<Record<string, string>>;
}

/** Opens the caches a build imports (`--import-cache`); fetching starts at once, lookups wait for it. */
export interface CacheImportRunner {
  open(entries: readonly CacheOptionEntry[], job: Job): RemoteCache[];
}

/** Runs one output of a build; returns its part of the exporter response. */
export interface ExportRunner {
  export(request: ExporterRequest, result: BuildResult, job: Job): Promise<Record<string, string>>;
  /**
   * Told, before a definition of the job is built, op outputs the build's result will be stacked
   * on (see JobGateway.build), so the output can start on them as they settle (`job.onSettled`);
   * may be told several times; whatever it starts ends with the job.
   */
  prepare?(request: ExporterRequest, job: Job, chain: readonly OpOutput[]): void;
}

export interface BuildControllerOptions {
  readonly jobs: JobRegistry;
  readonly scheduler: Scheduler;
  readonly gateway: Omit<GatewayServices, 'scheduler'>;
  readonly exporter: ExportRunner;
  readonly cacheExporter?: CacheExportRunner;
  readonly cacheImporter?: CacheImportRunner;
  /** Entitlements the daemon allows builds to ask for. */
  readonly allowedEntitlements: ReadonlySet<string>;
  readonly history?: BuildHistory;
  readonly logger?: Logger;
}

/** Waits for gateway calls that may arrive before the job (as the reference daemon does). */
const gatewayWaitMs = 3000;

/**
 * The lifecycle of a build, from Control.Solve to its answer: register the job before anything
 * slow, obtain the result (solved directly, or returned through the gateway by buildctl's
 * client-side build function), run the exporters, and always release what the job held.
 */
export class BuildController {
  readonly #gateways = new Map<string, JobGateway>();
  #draining = false;
  readonly #options: BuildControllerOptions;

  constructor(options: BuildControllerOptions) {
    this.#options = options;
  }

  /**
   * Stops taking new builds and waits for running ones to finish; after `timeoutMs` the rest are
   * cancelled (their clients get Canceled, never a hang). Resolves when no job is left.
   */
  async drain(timeoutMs: number): Promise<{ finished: boolean }> {
    this.#draining = true;
    const { jobs } = this.#options;
    const deadline = Date.now() + timeoutMs;
    while (jobs.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const finished = jobs.size === 0;
    for (const job of jobs.all()) job.cancel();
    while (jobs.size > 0) await new Promise((r) => setTimeout(r, 20));
    return { finished };
  }

  async solve(request: BuildRequest, signal: AbortSignal): Promise<Record<string, string>> {
    const { jobs, scheduler } = this.#options;
    if (this.#draining) {
      throw new SolveRequestError(
        'kilnd is shutting down and takes no new builds; retry on another daemon',
        'unavailable',
      );
    }
    const entitlements = this.#checkEntitlements(request.entitlements);
    const job = new Job({
      ref: request.ref,
      sessionId: request.sessionId,
      frontend: request.frontend,
      frontendAttrs: request.frontendAttrs,
      exporters: request.exporters,
      cacheExports: request.cacheExports,
      cacheImports: request.cacheImports,
      entitlements,
      ...perBuildQueue(request.frontendAttrs),
    });
    if (request.cacheImports.length > 0 && this.#options.cacheImporter) {
      job.remoteCaches = this.#options.cacheImporter.open(request.cacheImports, job);
    }
    jobs.register(job);
    const record = {
      ref: job.ref,
      frontend: request.frontend,
      frontendAttrs: request.frontendAttrs,
      exporters: request.exporters,
      createdAt: job.createdAt,
      exporterResponse: {},
      pinned: false,
      generation: 0,
      numTotalSteps: 0,
      numCachedSteps: 0,
      numCompletedSteps: 0,
      numWarnings: 0,
    };
    const history = request.internal ? undefined : this.#options.history;
    history?.started(record);
    if (jobChannel.hasSubscribers) jobChannel.publish({ ref: job.ref, phase: 'start' } satisfies JobEvent);
    let response: Record<string, string> = {};
    let failure: unknown;
    const gateway = new JobGateway(job, {
      ...this.#options.gateway,
      scheduler,
      prepare: (chain) => {
        for (const exporter of request.exporters) this.#options.exporter.prepare?.(exporter, job, chain);
      },
    });
    this.#gateways.set(job.ref, gateway);
    const onAbort = (): void => job.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const returned =
        request.definition || request.frontend
          ? await gateway.solve(
              {
                ...(request.definition ? { definition: request.definition } : {}),
                frontend: request.frontend,
                frontendOpt: request.frontendAttrs,
              },
              undefined,
              { final: true },
            )
          : await job.waitForReturn();
      const result = this.#resolveResult(gateway, returned);
      const cacheExport =
        request.cacheExports.length > 0 && this.#options.cacheExporter
          ? this.#options.cacheExporter.export(request.cacheExports, {
              job,
              result,
              vertices: scheduler.outcomesOf(job),
            })
          : Promise.resolve({});
      // Outputs and the cache export run side by side (BuildKit's mode=max export used to wait).
      const responses = await Promise.all([
        ...request.exporters.map((exporter) => this.#options.exporter.export(exporter, result, job)),
        cacheExport,
      ]);
      response = Object.assign(frontendResponse(returned), ...responses) as Record<string, string>;
      return response;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      if (jobChannel.hasSubscribers) {
        jobChannel.publish({
          ref: job.ref,
          phase: 'end',
          durationMs: Date.now() - job.createdAt.getTime(),
          failed: failure !== undefined,
        } satisfies JobEvent);
      }
      history?.completed(
        {
          ...record,
          completedAt: new Date(),
          exporterResponse: response,
          ...stepCounts(job.progress.events()),
          ...(failure ? { error: errorSummary(failure) } : {}),
        },
        stepsWithFacets(scheduler, job),
        job.progress.events(),
      );
      signal.removeEventListener('abort', onAbort);
      job.cancel();
      job.progress.end();
      scheduler.release(job);
      jobs.remove(job);
      this.#gateways.delete(job.ref);
    }
  }

  /** The gateway of a running build, for LLBBridge calls tagged with its ref. */
  async gateway(ref: string, signal?: AbortSignal): Promise<JobGateway> {
    await this.#options.jobs.get(ref, { timeoutMs: gatewayWaitMs, ...(signal ? { signal } : {}) });
    const gateway = this.#gateways.get(ref);
    if (!gateway) throw new SolveRequestError(`no such job ${ref}`, 'not-found');
    return gateway;
  }

  #checkEntitlements(requested: readonly string[]): ReadonlySet<string> {
    for (const entitlement of requested) {
      if (!this.#options.allowedEntitlements.has(entitlement)) {
        throw new SolveRequestError(
          `granting entitlement ${entitlement} is not allowed by build daemon configuration (start kilnd with --allow-insecure-entitlement ${entitlement})`,
          'permission-denied',
        );
      }
    }
    return new Set(requested);
  }

  #resolveResult(gateway: JobGateway, returned: GatewayResult): BuildResult {
    const frontend = gateway.frontendOf(returned);
    const keys = new Map<string, string>();
    if (returned.ref) {
      const key = gateway.keyOf(returned.ref);
      if (key) keys.set('', key);
    }
    for (const [platform, ref] of returned.refs ?? []) {
      const key = gateway.keyOf(ref);
      if (key) keys.set(platform, key);
    }
    return {
      keys,
      ...(returned.ref ? { ref: gateway.resolve(returned.ref) } : {}),
      ...(returned.refs
        ? { refs: new Map([...returned.refs].map(([platform, ref]) => [platform, gateway.resolve(ref)])) }
        : {}),
      metadata: returned.metadata,
      ...(frontend ? { frontend } : {}),
      sources: gateway.sourcesOf(returned),
    };
  }
}

/** The job's steps for the history, each with the facets of its op (to explain a later miss). */
function stepsWithFacets(scheduler: Scheduler, job: Job): HistoryStep[] {
  const ops = new Map(scheduler.outcomesOf(job).map((v) => [v.digest, v.op]));
  return scheduler.stepsOf(job).map((step) => {
    const op = ops.get(step.digest);
    const facets = op ? opFacets(op) : undefined;
    return facets ? { ...step, facets } : step;
  });
}

function errorSummary(err: unknown): { code: string; kind: string; message: string } {
  const e = err as { code?: unknown; kind?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : '',
    kind: typeof e.kind === 'string' ? e.kind : 'unknown',
    message: typeof e.message === 'string' ? e.message : String(err),
  };
}

function perBuildQueue(attrs: Readonly<Record<string, string>>): { queue?: PQueue } {
  const value = attrs['kiln.max-parallelism'];
  if (value === undefined) return {};
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new SolveRequestError(
      `kiln.max-parallelism must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return { queue: new PQueue({ concurrency: n }) };
}

/** Frontend metadata keys starting with `frontend.` are part of the build's response. */
function frontendResponse(result: GatewayResult): Record<string, string> {
  const response: Record<string, string> = {};
  for (const [key, value] of result.metadata) {
    if (key.startsWith('frontend.')) response[key] = Buffer.from(value).toString('utf8');
  }
  return response;
}
