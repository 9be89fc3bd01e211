import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import { hostPlatform, parseReference, type Platform } from '../../oci/index.js';
import type { SessionManager } from '../../session/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type {
  CacheExportRunner,
  CacheMounts,
  CacheOptionEntry,
  ExportRunner,
  Job,
} from '../../solver/index.js';
import { ClientContentStore } from '../client-store.js';
import { asVertex, type RegistrySource } from '../context.js';
import { LayerExporter } from '../layers.js';
import { step, type ExportProgress } from '../progress.js';
import { parseCacheExport, type CacheExportOptions } from './attributes.js';
import { cacheBundle, topLevel, type BuildCache } from './bundle.js';
import { CacheExportError } from './errors.js';
import { CacheOutputs } from './inline.js';
import { insecureClient } from './insecure.js';
import { manifestResponse, pushCache, writeCacheToClient, type CacheBundle } from './targets.js';

export interface CacheExporterDeps {
  readonly sessions: SessionManager;
  readonly snapshotter: LocalSnapshotter;
  readonly content: ContentStore;
  readonly registries: RegistrySource;
  /** The daemon's cache mount directories (for `cache-mounts=true`). */
  readonly cacheMounts?: CacheMounts;
  /** Platform of results that name none (as the image exporters'); default the host's. */
  readonly defaultPlatform?: Platform;
  readonly logger?: Logger;
}

/** Blobs an export writes stay leased this long, as the image exporters' (reused by later exports). */
const leaseLifetimeMs = 24 * 60 * 60 * 1000;

/**
 * The solver's CacheExportRunner: `--export-cache type=registry` (a repository tag),
 * `type=local` (the client's directory, through its content store) and `type=inline` (the cache
 * records in the image config; done by `outputs()`, which wraps the image exporters). The cache
 * format is BuildKit's cacheconfig.v0, with kiln's cache keys as its records. mode=min exports the
 * steps whose results are on the chains of the build's result, mode=max every step; layer blobs
 * are computed once per snapshot and compression and shared with the image exporters; a blob the
 * target already has is never sent again. Lifecycle: one per daemon.
 */
export class CacheExporter implements CacheExportRunner {
  readonly #deps: CacheExporterDeps;
  readonly #layers: LayerExporter;
  readonly #builds = new WeakMap<Job, { promise: Promise<BuildCache>; resolve: (b: BuildCache) => void }>();

  constructor(deps: CacheExporterDeps) {
    this.#deps = deps;
    this.#layers = new LayerExporter({
      snapshotter: deps.snapshotter,
      content: deps.content,
      ...(deps.logger ? { logger: deps.logger } : {}),
    });
  }

  /**
   * The build's outputs with inline cache and lazy results handled: wraps the daemon's
   * ExportRunner (see CacheOutputs). Pass the result as the controller's `exporter`.
   */
  outputs(exporter: ExportRunner): ExportRunner {
    return new CacheOutputs({
      exporter,
      layers: this.#layers,
      content: this.#deps.content,
      defaultPlatform: this.#deps.defaultPlatform ?? hostPlatform(),
      build: (job) => this.#build(job).promise,
      topLevel: (ref, job) => topLevel(this.#deps, ref, job),
    });
  }

  /**
   * Exports the cache to every registry and local entry at once; answers `cache.manifest`.
   * Throws CacheOptionError / UnsupportedCacheError for bad entries, CacheExportError (unless
   * `ignore-error=true`, which only logs), or the job's cancellation.
   */
  async export(entries: readonly CacheOptionEntry[], build: BuildCache): Promise<Record<string, string>> {
    this.#build(build.job).resolve(build);
    const options = entries.map(parseCacheExport).filter((o) => o.type !== 'inline');
    const responses = await Promise.all(options.map((o) => this.#exportOne(o, build)));
    return Object.assign({}, ...responses) as Record<string, string>;
  }

  #build(job: Job): { promise: Promise<BuildCache>; resolve: (b: BuildCache) => void } {
    let entry = this.#builds.get(job);
    if (!entry) {
      let resolve!: (b: BuildCache) => void;
      const promise = new Promise<BuildCache>((r) => (resolve = r));
      entry = { promise, resolve };
      this.#builds.set(job, entry);
    }
    return entry;
  }

  async #exportOne(options: CacheExportOptions, build: BuildCache): Promise<Record<string, string>> {
    const { job } = build;
    const target =
      options.type === 'registry'
        ? options.ref
        : options.type === 'local'
          ? `local:${options.dest}`
          : 'inline';
    const name =
      options.type === 'registry' ? 'exporting cache to registry' : 'exporting cache to client directory';
    try {
      return await asVertex(job, name, async (progress) => {
        const lease = `kiln-cache-export-${job.ref}-${randomBytes(4).toString('hex')}`;
        await this.#deps.content.createLease(lease, { expiresAt: new Date(Date.now() + leaseLifetimeMs) });
        const bundle = await step(progress, 'preparing build cache for export', () =>
          cacheBundle(
            {
              ...this.#deps,
              layers: this.#layers,
              defaultPlatform: this.#deps.defaultPlatform ?? hostPlatform(),
            },
            options,
            build,
            lease,
          ),
        );
        await this.#write(options, bundle, job, progress);
        return manifestResponse(bundle.index.descriptor);
      });
    } catch (cause) {
      job.signal.throwIfAborted();
      if (options.ignoreError) {
        this.#deps.logger?.warn({ err: cause, target }, 'cache export failed (ignore-error=true)');
        return {};
      }
      throw new CacheExportError(target, { cause });
    }
  }

  async #write(
    options: CacheExportOptions,
    bundle: CacheBundle,
    job: Job,
    progress: ExportProgress,
  ): Promise<void> {
    const { signal } = job;
    if (options.type === 'registry') {
      const domain = parseReference(options.ref).domain;
      const client = options.insecure
        ? insecureClient({ sessions: this.#deps.sessions, job, domain, logger: this.#deps.logger })
        : this.#deps.registries.forSessions(job.sessionIds);
      try {
        await pushCache({ client, ref: options.ref, bundle, content: this.#deps.content, progress, signal });
      } finally {
        if (options.insecure) await client.close();
      }
    } else if (options.type === 'local') {
      const session = await this.#deps.sessions.get(job.options.sessionId, { timeoutMs: 5000, signal });
      const store = new ClientContentStore(session, `local:${options.dest}`);
      await writeCacheToClient({ store, bundle, progress, signal });
    }
  }
}
