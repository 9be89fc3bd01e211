import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import { parseReference } from '../../oci/index.js';
import { ContentClient, type SessionManager } from '../../session/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import {
  SyntheticVertex,
  type CacheImportRunner,
  type CacheMounts,
  type CacheOptionEntry,
  type Job,
  type RemoteCache,
} from '../../solver/index.js';
import type { RegistrySource } from '../context.js';
import { parseCacheImport, type CacheImportOptions } from './attributes.js';
import { ClientBlobSource, RegistryBlobSource, type BlobSource } from './blob-source.js';
import { loadCache, type LoadedCache } from './cache-loader.js';
import { ImportedCache } from './imported-cache.js';
import { insecureClient } from './insecure.js';

export interface CacheImporterDeps {
  readonly sessions: SessionManager;
  readonly snapshotter: LocalSnapshotter;
  readonly content: ContentStore;
  readonly registries: RegistrySource;
  /** The daemon's cache mount directories; imported cache mounts are restored into new ones. */
  readonly cacheMounts?: CacheMounts;
  readonly logger?: Logger;
}

/** Fetched layers stay leased this long (they back the snapshots unpacked from them). */
const leaseLifetimeMs = 24 * 60 * 60 * 1000;

/**
 * The solver's CacheImportRunner: `--import-cache type=registry,ref=R` (a cache, or an image whose
 * configs carry an inline cache) and `type=local,src=DIR,digest=D` (the client's directory over the
 * session). `open` checks the entries, starts reading every cache's manifest at once and returns
 * without waiting; a cache that cannot be read only shows as a note on its progress line. Cache
 * mount contents in an imported cache are restored into cache mount directories created while the
 * build runs (`cache-mounts=false` on the import turns that off). Lifecycle: one per daemon.
 */
export class CacheImporter implements CacheImportRunner {
  readonly #deps: CacheImporterDeps;

  constructor(deps: CacheImporterDeps) {
    this.#deps = deps;
  }

  /** Throws CacheOptionError, UnsupportedCacheError or ExporterRequestError for bad entries. */
  open(entries: readonly CacheOptionEntry[], job: Job): RemoteCache[] {
    const parsed = entries.map(parseCacheImport);
    let lease: Promise<string> | undefined;
    const leaseOnce = (): Promise<string> =>
      (lease ??= (async () => {
        const id = `kiln-cache-import-${job.ref}-${randomBytes(4).toString('hex')}`;
        await this.#deps.content.createLease(id, { expiresAt: new Date(Date.now() + leaseLifetimeMs) });
        return id;
      })());
    return parsed.map((options) => {
      const source = this.#source(options, job);
      const cache = new ImportedCache({
        source: source.blobs,
        load: () => this.#load(source.blobs, source.label, job),
        content: this.#deps.content,
        snapshotter: this.#deps.snapshotter,
        lease: leaseOnce,
        topLevel: async (ref, signal) => {
          // The image source resolved it moments ago: answered from the remembered resolution.
          const client = this.#deps.registries.forSessions(job.sessionIds);
          const resolved = await client.resolve(ref, { mode: 'local', store: this.#deps.content, signal });
          return resolved.descriptor.digest;
        },
        ...(this.#deps.logger ? { logger: this.#deps.logger } : {}),
      });
      const { cacheMounts } = this.#deps;
      if (options.cacheMounts && cacheMounts) {
        const remove = cacheMounts.addSeeder((id, dir, signal) => cache.restoreMount(id, dir, signal));
        job.signal.addEventListener('abort', remove, { once: true });
      }
      return cache;
    });
  }

  /** The blob source of an import, and how its progress line names it. */
  #source(options: CacheImportOptions, job: Job): { blobs: BlobSource; label: string } {
    if (options.type === 'registry') {
      const domain = parseReference(options.ref).domain;
      const client = options.insecure
        ? insecureClient({ sessions: this.#deps.sessions, job, domain, logger: this.#deps.logger })
        : this.#deps.registries.forSessions(job.sessionIds);
      if (options.insecure) job.signal.addEventListener('abort', () => void client.close(), { once: true });
      return { blobs: new RegistryBlobSource({ client, ref: options.ref }), label: options.ref };
    }
    const client = this.#deps.sessions
      .get(job.options.sessionId, { timeoutMs: 5000, signal: job.signal })
      .then((session) => new ContentClient({ session, storeId: `local:${options.src}` }));
    client.catch(() => undefined);
    return {
      blobs: new ClientBlobSource({ client, src: options.src, digest: options.digest }),
      label: `local:${options.src}`,
    };
  }

  async #load(source: BlobSource, label: string, job: Job): Promise<LoadedCache | undefined> {
    const vertex = new SyntheticVertex(job.progress, `importing cache manifest from ${label}`);
    try {
      const loaded = await loadCache(source, job.signal);
      vertex.complete();
      return loaded;
    } catch (err) {
      // A missing cache is normal (the first build of a branch): note it, never fail the build.
      vertex.log(`cache not imported: ${(err as Error).message}\n`);
      vertex.complete();
      this.#deps.logger?.debug({ err, source: source.name }, 'cache import failed');
      return undefined;
    }
  }
}
