import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { copyStream, type ContentStore } from '../../content/index.js';
import { formatReference, parseReference, type Descriptor, type Digest } from '../../oci/index.js';
import { applyTar, unpack, type LocalSnapshotter } from '../../snapshotter/index.js';
import type { LazyLayers, RemoteCache, RemoteStep } from '../../solver/index.js';
import type { BlobSource } from './blob-source.js';
import { bkExecDigest, bkExecKeyedByInputs, bkImageDigest, bkRecordDigest } from './buildkit-keys.js';
import type { ImportedLayer, LoadedCache } from './cache-loader.js';
import { CacheImportError } from './errors.js';

export interface ImportedCacheOptions {
  readonly source: BlobSource;
  /** Reads the cache's manifest and config; started by the constructor. */
  readonly load: () => Promise<LoadedCache | undefined>;
  readonly content: ContentStore;
  readonly snapshotter: LocalSnapshotter;
  /** Lease that holds fetched layers (created on first use). */
  readonly lease: () => Promise<string>;
  /**
   * The top-level digest an image reference resolves to (as the build's image source saw it), to
   * find image steps under BuildKit's keys; without it only kiln's keys are looked up.
   */
  readonly topLevel?: (ref: string, signal: AbortSignal) => Promise<Digest | undefined>;
  readonly logger?: Logger;
}

const fetchConcurrency = 3;

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * One `--import-cache` of a build, as the scheduler consults it after a local miss. Reading the
 * cache's manifest starts when it is constructed (beside the build's start); `lookup` waits for
 * it and answers from memory. Results stay lazy: their layers are fetched (into the content store,
 * then unpacked into snapshots shared with identical local chains) only when `materialize` is
 * called because a step needs the files. A cache that cannot be read is a miss for every key,
 * never a build failure. Lifecycle: the job's.
 */
export class ImportedCache implements RemoteCache {
  readonly source: BlobSource;
  readonly #loaded: Promise<LoadedCache | undefined>;
  readonly #options: ImportedCacheOptions;
  readonly #bkMemo = new WeakMap<RemoteStep['op'], Map<number, Promise<number[]>>>();

  constructor(options: ImportedCacheOptions) {
    this.#options = options;
    this.source = options.source;
    this.#loaded = options.load().catch((err: unknown) => {
      options.logger?.debug({ err, source: options.source.name }, 'cache import unavailable');
      return undefined;
    });
  }

  /** The loaded cache (undefined when it could not be read). */
  loaded(signal?: AbortSignal): Promise<LoadedCache | undefined> {
    return signal ? raceSignal(this.#loaded, signal) : this.#loaded;
  }

  /**
   * The result recorded for `key` (kiln's key), or for `step` under BuildKit's own keys (image
   * sources and exec steps keyed by their inputs), lazily; undefined on a miss. Waits for the
   * manifest.
   */
  async lookup(key: string, signal: AbortSignal, step?: RemoteStep): Promise<LazyLayers | undefined> {
    const loaded = await this.loaded(signal);
    if (!loaded) return undefined;
    let chain = loaded.results.get(key);
    if (!chain && step && loaded.graph.size > 0) {
      for (const record of await this.#buildkitRecords(loaded, step, signal)) {
        chain = loaded.resultOf(record);
        if (chain) break;
      }
    }
    if (!chain) return undefined;
    const found = chain;
    return { layers: found, materialize: (s) => this.materialize(found, s) };
  }

  /** The records of BuildKit's graph that are `step` (memoised per op and output). */
  #buildkitRecords(loaded: LoadedCache, step: RemoteStep, signal: AbortSignal): Promise<number[]> {
    let byOutput = this.#bkMemo.get(step.op);
    if (!byOutput) this.#bkMemo.set(step.op, (byOutput = new Map()));
    let found = byOutput.get(step.output);
    if (!found) {
      found = this.#computeBuildkitRecords(loaded, step, signal).catch((err: unknown) => {
        byOutput.delete(step.output);
        throw err;
      });
      byOutput.set(step.output, found);
    }
    return found;
  }

  async #computeBuildkitRecords(
    loaded: LoadedCache,
    step: RemoteStep,
    signal: AbortSignal,
  ): Promise<number[]> {
    const { op } = step;
    if (op.op.case === 'source') {
      const id = op.op.value.identifier;
      if (!id.startsWith('docker-image://') || !this.#options.topLevel) return [];
      const name = formatReference(parseReference(id.slice('docker-image://'.length)));
      const top = await this.#options.topLevel(name, signal).catch((err: unknown) => {
        signal.throwIfAborted();
        this.#options.logger?.debug({ err, image: name }, 'image not resolved for BuildKit keys');
        return undefined;
      });
      return top ? loaded.graph.roots(bkRecordDigest(bkImageDigest(top, step.platform), 0)) : [];
    }
    if (op.op.case !== 'exec' || !bkExecKeyedByInputs(op.op.value)) return [];
    const inputs = await Promise.all(
      step.inputs().map((input) => this.#buildkitRecords(loaded, input, signal)),
    );
    if (inputs.length !== op.inputs.length || inputs.some((alts) => alts.length === 0)) return [];
    return loaded.graph.linked(bkRecordDigest(bkExecDigest(op.op.value, step.platform), step.output), inputs);
  }

  /** The cache's entry for a blob (a layer of any result or cache mount), if it lists it. */
  async blob(digest: string): Promise<ImportedLayer | undefined> {
    return (await this.#loaded)?.blobs.get(digest);
  }

  /** A stream of one of the cache's blobs, straight from its source. */
  openBlob(descriptor: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Readable {
    return this.source.open(descriptor, options);
  }

  /** The imported contents of cache mount `id`, if the cache has them. */
  async mount(id: string): Promise<ImportedLayer | undefined> {
    return (await this.#loaded)?.mounts.get(id);
  }

  /**
   * Fetches a chain's blobs that the content store lacks and unpacks the chain; returns the
   * committed snapshot (named by chain ID). Throws CacheImportError (fetch failures), snapshotter
   * errors (DiffIdMismatchError for a layer that is not what the cache says), or the signal's reason.
   */
  async materialize(chain: readonly ImportedLayer[], signal: AbortSignal): Promise<string | undefined> {
    if (chain.length === 0) return undefined;
    const { content, snapshotter, logger } = this.#options;
    const lease = await this.#options.lease();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chain.length) {
        const layer = chain[next++]!;
        await this.#fetch(layer.descriptor, lease, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(fetchConcurrency, chain.length) }, worker));
    const unpacked = await unpack({
      snapshotter,
      content,
      layers: chain.map((l) => l.descriptor),
      diffIds: chain.map((l) => l.diffId),
      signal,
      ...(logger ? { logger } : {}),
    });
    return unpacked.key;
  }

  /**
   * Restores cache mount `id` into the empty directory `dir` (a CacheMounts seeder). Resolves
   * false when this cache has no contents for it. Throws CacheImportError, or when the contents
   * are not what the cache says.
   */
  async restoreMount(id: string, dir: string, signal?: AbortSignal): Promise<boolean> {
    const entry = await (signal ? raceSignal(this.#loaded, signal) : this.#loaded).then((c) =>
      c?.mounts.get(id),
    );
    if (!entry) return false;
    let diffId: Digest;
    try {
      const blob = this.source.open(entry.descriptor, signal ? { signal } : {});
      ({ diffId } = await applyTar({ dir, lowers: [], whiteouts: 'delete' }, blob, signal ? { signal } : {}));
    } catch (cause) {
      signal?.throwIfAborted();
      throw new CacheImportError(this.source.name, `the cache mount ${id}`, { cause });
    }
    if (diffId !== entry.diffId) {
      throw new CacheImportError(this.source.name, `the cache mount ${id}`, {
        cause: new Error(`its contents have digest ${diffId}, the cache says ${entry.diffId}`),
      });
    }
    this.#options.logger?.debug({ id, source: this.source.name }, 'cache mount restored');
    return true;
  }

  async #fetch(descriptor: Descriptor, lease: string, signal: AbortSignal): Promise<void> {
    const { content } = this.#options;
    try {
      await content.info(descriptor.digest);
      await content.addLeaseResource(lease, descriptor.digest);
      return;
    } catch (error) {
      if ((error as { kind?: unknown }).kind !== 'not-found') throw error;
    }
    try {
      await copyStream(content, this.source.open(descriptor, { signal }), {
        ref: `cache-import-${descriptor.digest}`,
        expected: descriptor.digest,
        total: descriptor.size,
        lease,
        signal,
      });
    } catch (cause) {
      signal.throwIfAborted();
      throw new CacheImportError(this.source.name, `layer ${descriptor.digest}`, { cause });
    }
  }
}
