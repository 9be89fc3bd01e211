import { Readable } from 'node:stream';
import type { ContentStore } from '../../content/index.js';
import { parseReference, type Descriptor, type Digest } from '../../oci/index.js';
import type { RegistryClient } from '../../registry/index.js';
import type { ClientContentStore } from '../client-store.js';
import { distributionSourceLabel } from '../image-push.js';
import { step, type ExportProgress } from '../progress.js';
import type { CacheIndex } from './cache-index.js';

/** A blob of an exported cache and how to read it. */
export interface CacheBlob {
  readonly descriptor: Descriptor;
  open(offset: number): Promise<Readable>;
  /** Repositories (`host/path`) that may hold it, for cross-repository mounts. */
  readonly mountFrom: readonly string[];
}

/** Everything an exported cache consists of: layer blobs, the config, the top level. */
export interface CacheBundle {
  readonly blobs: readonly CacheBlob[];
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly index: CacheIndex;
}

/** Runs tasks together; the first failure aborts the others, and the call settles when all have. */
async function allOrAbort(
  controller: AbortController,
  tasks: ReadonlyArray<() => Promise<unknown>>,
): Promise<void> {
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

function bytesBlob(descriptor: Descriptor, bytes: Buffer): CacheBlob {
  return { descriptor, open: async (offset) => Readable.from([bytes.subarray(offset)]), mountFrom: [] };
}

/**
 * Pushes a cache to a registry reference: every blob and the config at once (the client's
 * transfer queue bounds them; a blob the registry has costs one HEAD, one another repository of
 * the registry has is mounted), then the top level under the reference's tag (default `latest`).
 * Pushed blobs that are in the content store are labelled with the repository (later pushes
 * mount from it). Throws the registry's errors or the signal's reason.
 */
export async function pushCache(options: {
  client: RegistryClient;
  ref: string;
  bundle: CacheBundle;
  content: ContentStore;
  progress: ExportProgress;
  signal?: AbortSignal;
}): Promise<void> {
  const { client, bundle, progress } = options;
  const parsed = parseReference(options.ref);
  const target = { domain: parsed.domain, path: parsed.path, tag: parsed.tag ?? 'latest' };
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const push = (blob: CacheBlob, label: string) => () =>
    step(progress, `${label} ${blob.descriptor.digest}`, () =>
      client.pushBlob(target, blob.descriptor, (offset) => blob.open(offset), {
        mountFrom: blob.mountFrom,
        signal,
      }),
    );
  await allOrAbort(controller, [
    ...bundle.blobs.map((blob) => push(blob, 'writing layer')),
    push(bytesBlob(bundle.config.descriptor, bundle.config.bytes), 'writing config'),
  ]);
  await step(progress, `writing manifest ${bundle.index.descriptor.digest}`, () =>
    client.pushManifest(target, bundle.index.descriptor.mediaType, bundle.index.bytes, { signal }),
  );
  await labelSources(options.content, bundle.blobs, target.domain, target.path);
}

async function labelSources(
  content: ContentStore,
  blobs: readonly CacheBlob[],
  domain: string,
  path: string,
): Promise<void> {
  const key = distributionSourceLabel(domain);
  for (const blob of blobs) {
    const info = await content.info(blob.descriptor.digest).catch(() => undefined);
    if (!info) continue;
    const repos = new Set((info.labels[key] ?? '').split(',').filter((r) => r !== ''));
    if (repos.has(path)) continue;
    repos.add(path);
    await content
      .updateLabels(blob.descriptor.digest, { [key]: [...repos].sort().join(',') })
      .catch(() => undefined);
  }
}

const clientConcurrency = 4;

/**
 * Writes a cache into the client's content store (`--export-cache type=local,dest=DIR`; buildctl
 * then tags the top level in `DIR/index.json`): blobs the store has are skipped by the client's
 * answer to the first STAT. Throws ClientStoreError or the signal's reason.
 */
export async function writeCacheToClient(options: {
  store: ClientContentStore;
  bundle: CacheBundle;
  progress: ExportProgress;
  signal?: AbortSignal;
}): Promise<void> {
  const { store, bundle, progress, signal } = options;
  const write = (blob: CacheBlob, label: string) =>
    step(progress, `${label} ${blob.descriptor.digest}`, () =>
      store.write(blob.descriptor, () => blob.open(0), signal),
    );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bundle.blobs.length) await write(bundle.blobs[next++]!, 'writing layer');
  };
  await Promise.all(Array.from({ length: Math.min(clientConcurrency, bundle.blobs.length) }, worker));
  await write(bytesBlob(bundle.config.descriptor, bundle.config.bytes), 'writing config');
  await write(bytesBlob(bundle.index.descriptor, bundle.index.bytes), 'writing manifest');
}

/** The Go JSON of a descriptor as BuildKit answers it in `cache.manifest` (no annotations). */
export function manifestResponse(descriptor: Descriptor): Record<string, string> {
  const { mediaType, digest, size } = descriptor as { mediaType: string; digest: Digest; size: number };
  return { 'cache.manifest': JSON.stringify({ mediaType, digest, size }) };
}
