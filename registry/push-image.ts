import type PQueue from 'p-queue';
import { readBlob, type ContentProvider } from '../content/index.js';
import type { Descriptor, Digest, ImageReference } from '../oci/index.js';
import { isIndex, isManifest, parseIndex, parseManifest } from './manifest.js';
import { pushBlob, pushManifest, type PushBlobResult, type UploadTuning } from './push.js';
import { authContext, toRepository, type RegistryContext, type Repository } from './registry-context.js';

/** Progress of one blob or manifest of an image push. */
export interface PushProgress {
  readonly descriptor: Descriptor;
  /** Bytes the registry accepted so far (the full size once settled). */
  readonly offset: number;
  readonly status: 'uploading' | PushBlobResult | 'manifest';
}

export interface PushImageOptions {
  /** Where the image's blobs are read from. */
  readonly provider: ContentProvider;
  /** The image's top level: an index or a manifest, present in `provider`. */
  readonly descriptor: Descriptor;
  /** Repositories on the same registry to mount blobs from. */
  readonly mountFrom?: ReadonlyArray<string | Repository>;
  /** Blobs the caller has just pushed to this repository: not asked about again. */
  readonly present?: ReadonlySet<Digest>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PushProgress) => void;
}

/** Runs tasks together; the first failure cancels the rest, and the call settles only when all have. */
async function allOrCancel(tasks: Array<() => Promise<unknown>>, controller: AbortController): Promise<void> {
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      task().catch((error: unknown) => {
        controller.abort(error);
        throw error;
      }),
    ),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Pushes an image graph from a content store: every blob (through `queue`, so parallel uploads
 * stay bounded; each digest once), then each child manifest by digest, then the top level under
 * the reference's tag. Returns the top-level digest. Children must be in `provider`.
 */
export async function pushImage(
  rc: RegistryContext,
  queue: PQueue,
  tuning: UploadTuning,
  ref: ImageReference,
  options: PushImageOptions,
): Promise<Digest> {
  const repo = toRepository(ref);
  const ctx = authContext('push', repo);
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const { provider, onProgress } = options;
  const blobs = new Map<Digest, Promise<unknown>>();

  const blob = (descriptor: Descriptor): Promise<unknown> => {
    let pending = blobs.get(descriptor.digest);
    if (!pending && options.present?.has(descriptor.digest)) {
      onProgress?.({ descriptor, offset: descriptor.size, status: 'exists' });
      pending = Promise.resolve();
      blobs.set(descriptor.digest, pending);
    } else if (!pending) {
      // Signal checked in the task: p-queue would settle a running task early on abort.
      pending = queue.add(async () => {
        signal.throwIfAborted();
        const result = await pushBlob(
          rc,
          repo,
          descriptor,
          (offset) => provider.reader(descriptor.digest, { offset, signal }),
          {
            mountFrom: options.mountFrom,
            signal,
            onProgress: (offset) => onProgress?.({ descriptor, offset, status: 'uploading' }),
          },
          tuning,
        );
        onProgress?.({ descriptor, offset: descriptor.size, status: result });
      });
      blobs.set(descriptor.digest, pending);
    }
    return pending;
  };

  const node = async (descriptor: Descriptor, top: boolean): Promise<Digest> => {
    if (!isIndex(descriptor) && !isManifest(descriptor)) {
      await blob(descriptor);
      return descriptor.digest;
    }
    const bytes = await readBlob(provider, descriptor.digest, { signal });
    const what = `${isIndex(descriptor) ? 'index' : 'manifest'} ${descriptor.digest}`;
    const children = isIndex(descriptor)
      ? parseIndex(bytes, ctx, what).manifests.map((child) => () => node(child, false))
      : (() => {
          const manifest = parseManifest(bytes, ctx, what);
          return [manifest.config, ...manifest.layers].map((child) => () => blob(child));
        })();
    await allOrCancel(children, controller);
    const target: ImageReference = top
      ? ref
      : { domain: ref.domain, path: ref.path, digest: descriptor.digest };
    const digest = await pushManifest(rc, target, descriptor.mediaType, bytes, { signal });
    onProgress?.({ descriptor, offset: descriptor.size, status: 'manifest' });
    return digest;
  };

  try {
    return await node(options.descriptor, true);
  } catch (error) {
    options.signal?.throwIfAborted();
    throw error;
  }
}
