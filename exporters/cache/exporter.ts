import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import { hostPlatform, MediaType, parseReference, sha256, type Platform } from '../../oci/index.js';
import type { SessionManager } from '../../session/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type {
  BuildResult,
  BuiltVertex,
  CacheExportRunner,
  CacheMounts,
  CacheOptionEntry,
  ExportRunner,
  Job,
  ResultRef,
} from '../../solver/index.js';
import { ClientContentStore } from '../client-store.js';
import { asVertex, type RegistrySource } from '../context.js';
import { goTime } from '../go-json.js';
import { LayerExporter, type LayerPolicy } from '../layers.js';
import { step, type ExportProgress } from '../progress.js';
import { parseCacheExport, type CacheExportOptions } from './attributes.js';
import { marshalCacheConfig, sortConfig, type CacheConfig } from './cache-config.js';
import { cacheIndex } from './cache-index.js';
import { exportCacheMounts, usedCacheMounts } from './cache-mounts.js';
import { buildConfig, ChainResolver, positionOn, type ChainLayer, type KeyedChain } from './chains.js';
import { CacheBlobMissingError, CacheExportError } from './errors.js';
import { ImportedCache } from './imported-cache.js';
import { CacheOutputs } from './inline.js';
import { insecureClient } from './insecure.js';
import {
  manifestResponse,
  pushCache,
  writeCacheToClient,
  type CacheBlob,
  type CacheBundle,
} from './targets.js';

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

/** What a build hands the cache export: its result and every settled step. */
export interface BuildCache {
  readonly job: Job;
  readonly result: BuildResult;
  readonly vertices: readonly BuiltVertex[];
}

/** Blobs an export writes stay leased this long, as the image exporters' (reused by later exports). */
const leaseLifetimeMs = 24 * 60 * 60 * 1000;

const annotationUncompressed = 'containerd.io/uncompressed';
const annotationCreatedAt = 'buildkit/createdat';

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
          this.#bundle(options, build, lease),
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

  /** The chains of the steps the mode selects, as a config and the blobs it names. */
  async #bundle(options: CacheExportOptions, build: BuildCache, lease: string): Promise<CacheBundle> {
    const { job, result, vertices } = build;
    const policy: LayerPolicy = {
      compression: options.compression,
      level: options.level,
      force: options.force,
      oci: options.oci,
      epoch: undefined,
      lease,
      signal: job.signal,
    };
    const resolver = new ChainResolver({ layers: this.#layers, snapshotter: this.#deps.snapshotter, policy });
    const outputs = keyedRefs(vertices, result);
    const finals = [...(result.ref ? [result.ref] : []), ...(result.refs?.values() ?? [])];
    let keyed: KeyedChain[];
    if (options.mode === 'max') {
      const chains = await resolver.chains(outputs.map((o) => o.ref));
      keyed = outputs.flatMap((o) => {
        const chain = chains.get(o.ref);
        return chain ? [{ key: o.key, chain }] : [];
      });
    } else {
      const finalChains = [...(await resolver.chains(finals)).values()].filter((c) => c !== undefined);
      keyed = outputs.flatMap((o) => {
        for (const chain of finalChains) {
          const at = positionOn(o.ref, chain);
          if (at !== undefined) return [{ key: o.key, chain: chain.slice(0, at + 1) }];
        }
        return [];
      });
    }
    const { config, blobs } = buildConfig(keyed);
    let full: CacheConfig = config;
    if (options.cacheMounts && this.#deps.cacheMounts) {
      const mounts = await exportCacheMounts({
        used: usedCacheMounts(vertices.map((v) => v.op)),
        cacheMounts: this.#deps.cacheMounts,
        imported: importedCaches(job),
        content: this.#deps.content,
        layer: options,
        lease,
        signal: job.signal,
      });
      const layers = [...config.layers];
      const cacheMounts = mounts.map((m) => {
        layers.push({ blob: m.layer.descriptor.digest, parent: -1 });
        if (!blobs.has(m.layer.descriptor.digest)) blobs.set(m.layer.descriptor.digest, m.layer);
        return { id: m.id, layer: layers.length - 1, ...(m.platform ? { platform: m.platform } : {}) };
      });
      full = { ...config, layers, cacheMounts };
    }
    const sorted = sortConfig(full);
    const configBytes = marshalCacheConfig(sorted);
    const configDesc = {
      mediaType: MediaType.buildkitCacheConfig,
      digest: sha256(configBytes),
      size: configBytes.length,
    };
    const domain = options.type === 'registry' ? parseReference(options.ref).domain : undefined;
    const ordered = [...new Set(sorted.layers.map((l) => l.blob))].map((digest) => blobs.get(digest)!);
    const cacheBlobs = await Promise.all(ordered.map((layer) => this.#blob(layer, job, domain)));
    return {
      blobs: cacheBlobs,
      config: { descriptor: configDesc, bytes: configBytes },
      index: cacheIndex(
        cacheBlobs.map((b) => b.descriptor),
        configDesc,
        { oci: options.oci, imageManifest: 'imageManifest' in options && options.imageManifest },
      ),
    };
  }

  /** How to read a layer blob: from the content store, else from an imported cache holding it. */
  async #blob(layer: ChainLayer, job: Job, domain: string | undefined): Promise<CacheBlob> {
    const { content } = this.#deps;
    const descriptor = {
      ...layer.descriptor,
      annotations: { [annotationCreatedAt]: goTime(layer.createdAt), [annotationUncompressed]: layer.diffId },
    };
    const digest = layer.descriptor.digest;
    const info = await content.info(digest).catch(() => undefined);
    const mountFrom = (info?.labels[`containerd.io/distribution.source.${domain}`] ?? '')
      .split(',')
      .filter((r) => r !== '' && domain !== undefined)
      .map((r) => `${domain}/${r}`);
    if (info) {
      return {
        descriptor,
        mountFrom,
        open: (offset) => content.reader(digest, { offset, signal: job.signal }),
      };
    }
    for (const cache of importedCaches(job)) {
      if (!(await cache.blob(digest))) continue;
      const repo = cache.source.repository;
      return {
        descriptor,
        mountFrom: repo && repo.domain === domain ? [...mountFrom, `${repo.domain}/${repo.path}`] : mountFrom,
        open: async (offset) => cache.openBlob(layer.descriptor, { offset, signal: job.signal }),
      };
    }
    throw new CacheBlobMissingError(digest);
  }
}

function importedCaches(job: Job): ImportedCache[] {
  return job.remoteCaches.filter((c): c is ImportedCache => c instanceof ImportedCache);
}

/** Every (key, result) of the build: each step's outputs, and the result's own keys. */
function keyedRefs(
  vertices: readonly BuiltVertex[],
  result: BuildResult,
): Array<{ key: string; ref: ResultRef }> {
  const out = new Map<string, ResultRef>();
  for (const v of vertices) v.keys.forEach((key, i) => out.set(key, v.refs[i]!));
  for (const [platform, key] of result.keys) {
    const ref = platform === '' ? result.ref : result.refs?.get(platform);
    if (ref && !out.has(key)) out.set(key, ref);
  }
  return [...out].map(([key, ref]) => ({ key, ref }));
}
