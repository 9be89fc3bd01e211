import type PQueue from 'p-queue';
import { copyStream, readBlob, writeBlob } from '../content/index.js';
import {
  hostPlatform,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type ImageReference,
  type Platform,
} from '../oci/index.js';
import { RegistryContentMismatchError, RegistryProtocolError } from './errors.js';
import { fetchBlob } from './blob-fetch.js';
import { getManifest, isIndex, parseManifest } from './manifest.js';
import {
  authContext,
  toRepository,
  tryEndpoints,
  type RegistryContext,
  type Repository,
} from './registry-context.js';
import type { Resolutions } from './resolutions.js';
import { pickPlatform, resolve, type ManifestStore, type ResolveMode } from './resolver.js';

/** Byte progress of one blob of a pull. */
export interface PullProgress {
  readonly descriptor: Descriptor;
  /** Bytes stored so far (the full size for `exists` and `done`). */
  readonly offset: number;
  readonly status: 'downloading' | 'exists' | 'done';
}

export interface PullOptions {
  /** Default: the host's platform. */
  readonly platform?: Platform;
  /** Where blobs go; each is verified before it becomes visible there. */
  readonly store: ManifestStore;
  readonly mode?: ResolveMode;
  /** Lease holding every blob of the image (index, manifest, config, layers) once the pull returns. */
  readonly lease?: string;
  /** Download the layers too (default true); false stores only index, manifest and config. */
  readonly layers?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PullProgress) => void;
}

export interface PullResult {
  readonly reference: ImageReference;
  /** What the reference names (an index, or the manifest itself), with its exact bytes. */
  readonly root: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly manifest: {
    readonly descriptor: Descriptor;
    readonly bytes: Buffer;
    readonly value: ImageManifest;
  };
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer; readonly value: ImageConfig };
  readonly layers: readonly Descriptor[];
}

interface PullJob {
  readonly rc: RegistryContext;
  readonly repo: Repository;
  readonly options: PullOptions;
  readonly signal: AbortSignal;
}

/** A blob into the store, unless it is there; concurrent pulls of one digest share one download. */
async function ensureBlob(job: PullJob, descriptor: Descriptor): Promise<void> {
  const { rc, repo, options, signal } = job;
  const report = (offset: number, status: PullProgress['status']): void =>
    options.onProgress?.({ descriptor, offset, status });
  // The store serialises writers by ref: a second pull of this digest waits, then finds it committed.
  // The writer verifies the digest, so the download does not hash the bytes a second time.
  const result = await copyStream(options.store, fetchBlob(rc, repo, descriptor, { signal, verify: false }), {
    ref: `fetch-${descriptor.digest}`,
    expected: descriptor.digest,
    total: descriptor.size,
    lease: options.lease,
    signal,
    onProgress: (offset) => report(offset, 'downloading'),
  }).catch((error: unknown) => {
    const actual = (error as { code?: unknown; actual?: unknown }).actual;
    if ((error as { code?: unknown }).code !== 'KILN_CONTENT_DIGEST_MISMATCH') throw error;
    throw new RegistryContentMismatchError({
      ...authContext('pull', repo),
      detail: `blob ${descriptor.digest} arrived with digest ${String(actual)}`,
      cause: error,
    });
  });
  report(descriptor.size, result.existed ? 'exists' : 'done');
}

/** A manifest by digest: from the store when there, else from the registry and into the store. */
async function ensureManifest(job: PullJob, descriptor: Descriptor): Promise<Buffer> {
  const { rc, repo, options, signal } = job;
  const local = await options.store.info(descriptor.digest).then(
    () => true,
    () => false,
  );
  const bytes = local
    ? await readBlob(options.store, descriptor.digest, { signal })
    : (
        await tryEndpoints(rc, repo, 'pull', signal, (endpoint) =>
          getManifest(rc, endpoint, repo, descriptor.digest, { operation: 'pull', signal }),
        )
      ).bytes;
  await writeBlob(options.store, bytes, {
    expected: descriptor.digest,
    mediaType: descriptor.mediaType,
    lease: options.lease,
    signal,
  });
  return bytes;
}

/**
 * Pulls one platform's image into a content store: resolves the reference (by `mode`), selects
 * the platform's manifest from an index, stores index, manifest, config and layers, each verified.
 * Layers download through `queue` (the client's bound on parallel transfers). When one blob fails
 * the others are cancelled, and the pull rejects only after every write was aborted, so nothing
 * partial remains. Cost: network transfer of the missing blobs only.
 */
export async function pull(
  rc: RegistryContext,
  resolutions: Resolutions | undefined,
  queue: PQueue,
  ref: ImageReference,
  options: PullOptions,
): Promise<PullResult> {
  const repo = toRepository(ref);
  const ctx = authContext('pull', repo);
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const job: PullJob = { rc, repo, options, signal };

  const resolved = await resolve(
    rc,
    resolutions,
    ref,
    { mode: options.mode, store: options.store, lease: options.lease, signal },
    'pull',
  );
  const manifestDescriptor = pickPlatform(resolved, options.platform ?? hostPlatform());
  const manifestBytes = isIndex(resolved.descriptor)
    ? await ensureManifest(job, manifestDescriptor)
    : resolved.bytes;
  const manifest = parseManifest(manifestBytes, ctx, `manifest ${manifestDescriptor.digest}`);

  const blobs = options.layers === false ? [manifest.config] : [manifest.config, ...manifest.layers];
  const settled = await Promise.allSettled(
    blobs.map((descriptor) =>
      // The signal is checked inside the task, not given to the queue: p-queue would reject a running
      // task's promise on abort before the task has cleaned up its write.
      queue
        .add(() => {
          signal.throwIfAborted();
          return ensureBlob(job, descriptor);
        })
        .catch((error: unknown) => {
          controller.abort(error);
          throw error;
        }),
    ),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    options.signal?.throwIfAborted();
    throw failed.reason;
  }

  const configBytes = await readBlob(options.store, manifest.config.digest, { signal });
  let config: ImageConfig;
  try {
    config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  } catch (error) {
    throw new RegistryProtocolError({
      ...ctx,
      detail: `config ${manifest.config.digest} is not JSON`,
      cause: error,
    });
  }
  return {
    reference: resolved.reference,
    root: { descriptor: resolved.descriptor, bytes: resolved.bytes },
    manifest: { descriptor: manifestDescriptor, bytes: manifestBytes, value: manifest },
    config: { descriptor: manifest.config, bytes: configBytes, value: config },
    layers: manifest.layers,
  };
}
