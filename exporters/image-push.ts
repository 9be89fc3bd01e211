import type { ContentStore } from '../content/index.js';
import {
  formatReference,
  isIndexMediaType,
  isManifestMediaType,
  parseReference,
  type Descriptor,
  type Digest,
  type ImageReference,
} from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import { publishBytes } from '../solver/index.js';
import { ExporterRequestError, ImagePushError } from './errors.js';
import type { CommittedImage } from './image-writer.js';
import { imageGraph } from './oci-archive.js';
import { counter, step, type ExportProgress } from './progress.js';

/** The content label containerd (and kiln) use to remember which repositories of a registry hold a blob. */
export const distributionSourceLabel = (domain: string): string =>
  `containerd.io/distribution.source.${domain}`;

/** Whether a name carries a tag or digest of its own (`repo:tag`), not one added by default. */
function explicitlyTagged(name: string): boolean {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') || name.includes('@');
}

/**
 * The repository a name is pushed to, known before the image is: its blobs can start uploading
 * while the image is still being written. Throws ExporterRequestError for a tagged name pushed by
 * digest.
 */
export function pushRepository(name: string, byDigest: boolean): ImageReference {
  if (byDigest && explicitlyTagged(name)) {
    throw new ExporterRequestError(`can't push tagged ref ${name} by digest`, {
      attribute: 'push-by-digest',
    });
  }
  const ref = parseReference(name);
  return { domain: ref.domain, path: ref.path };
}

/** The reference a name is pushed to: its tag (default `latest`), or only the digest (`push-by-digest`). */
export function pushTarget(name: string, image: CommittedImage, byDigest: boolean): ImageReference {
  const repo = pushRepository(name, byDigest);
  if (byDigest) return { ...repo, digest: image.descriptor.digest };
  return { ...repo, tag: parseReference(name).tag ?? 'latest' };
}

export interface PushContext {
  readonly client: RegistryClient;
  readonly content: ContentStore;
  readonly progress: ExportProgress;
  readonly signal?: AbortSignal;
}

async function sourcesOf(content: ContentStore, digest: Digest, domain: string): Promise<string[]> {
  const info = await content.info(digest).catch(() => undefined);
  return (info?.labels[distributionSourceLabel(domain)] ?? '')
    .split(',')
    .filter((repo) => repo !== '')
    .map((repo) => `${domain}/${repo}`);
}

/** What blob uploads need: a registry client, the blobs, and when to stop. */
export interface UploadContext {
  readonly client: RegistryClient;
  readonly content: ContentStore;
  readonly signal?: AbortSignal;
}

interface Upload {
  readonly blob: Descriptor;
  readonly started: Date;
  done: Promise<void>;
  offset: number;
  finished: boolean;
  report?: (current: number, done?: boolean) => void;
}

/**
 * The blob uploads of one push target, each started as soon as its blob is known: while the
 * image writer still diffs other layers and writes the config and manifest, or (see EarlyPush)
 * while the build still runs. Each blob is skipped when the registry has it, or mounted from a
 * repository of the same registry the content store remembers holding it. The first failure
 * aborts the rest. Progress is shown once there is an exporter vertex to show it under.
 */
export class BlobUploads {
  readonly #ctx: UploadContext;
  readonly #repo: ImageReference;
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal;
  readonly #uploads = new Map<Digest, Upload>();
  #progress: ExportProgress | undefined;

  constructor(ctx: UploadContext, repo: ImageReference) {
    this.#ctx = ctx;
    this.#repo = repo;
    this.#signal = ctx.signal
      ? AbortSignal.any([ctx.signal, this.#controller.signal])
      : this.#controller.signal;
  }

  /** Starts uploading `blob`, unless it is already (or failed, or was cancelled). */
  add(blob: Descriptor): void {
    if (this.#uploads.has(blob.digest)) return;
    const upload: Upload = { blob, started: new Date(), done: Promise.resolve(), offset: 0, finished: false };
    this.#uploads.set(blob.digest, upload);
    upload.done = this.#upload(upload).catch((error: unknown) => {
      this.#controller.abort(error);
      throw error;
    });
    // Awaited by settle() or cancel(); until then a failure must not count as unhandled.
    upload.done.catch(() => undefined);
  }

  /** Shows each upload as a byte counter under `progress` from now on (and where it stands). */
  show(progress: ExportProgress): void {
    this.#progress = progress;
    for (const upload of this.#uploads.values()) this.#report(upload);
  }

  /** Waits for every upload started; throws the first failure. Returns the blobs uploaded. */
  async settle(): Promise<Descriptor[]> {
    const uploads = [...this.#uploads.values()];
    const settled = await Promise.allSettled(uploads.map((u) => u.done));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return uploads.map((u) => u.blob);
  }

  /** Stops the uploads (the image will not be pushed) and waits for them to end. */
  async cancel(reason: unknown): Promise<void> {
    this.#controller.abort(reason);
    await Promise.allSettled([...this.#uploads.values()].map((u) => u.done));
  }

  #report(upload: Upload): void {
    if (!this.#progress) return;
    upload.report ??= counter(this.#progress, upload.blob.digest, upload.blob.size, upload.started);
    upload.report(upload.offset, upload.finished);
  }

  async #upload(upload: Upload): Promise<void> {
    const { client, content } = this.#ctx;
    const { blob } = upload;
    const signal = this.#signal;
    signal.throwIfAborted();
    const pushed = await client.pushBlob(
      this.#repo,
      blob,
      (offset) => content.reader(blob.digest, { offset, signal }),
      {
        mountFrom: await sourcesOf(content, blob.digest, this.#repo.domain),
        signal,
        onProgress: (offset) => {
          upload.offset = offset;
          this.#report(upload);
        },
      },
    );
    if (pushed === 'uploaded') publishBytes('pushed', blob.size);
    upload.offset = blob.size;
    upload.finished = true;
    this.#report(upload);
  }
}

/**
 * Pushes a committed image to one name: its blobs through `uploads` (which may have started some
 * while the image was written), then manifests by digest, then the top level under the tag.
 * Afterwards the blobs are labelled with the repository, so later pushes elsewhere on that
 * registry can mount them. Progress: `pushing layers` with a counter per blob, then
 * `pushing manifest for NAME@DIGEST`. Throws ImagePushError (kind from the registry error) or the
 * signal's reason.
 */
export async function pushImage(
  ctx: PushContext,
  image: CommittedImage,
  target: ImageReference,
  uploads: BlobUploads,
): Promise<void> {
  const { client, content, progress, signal } = ctx;
  const display = formatReference({ ...target, digest: image.descriptor.digest });
  let blobs: Descriptor[];
  uploads.show(progress);
  try {
    const graph = await imageGraph(content, image.descriptor, signal);
    for (const node of graph.nodes) {
      if (!isIndexMediaType(node.mediaType) && !isManifestMediaType(node.mediaType)) uploads.add(node);
    }
    blobs = await step(progress, 'pushing layers', () => uploads.settle());
    // The image push finds every blob present, so asks the registry about none of them again.
    await step(progress, `pushing manifest for ${display}`, () =>
      client.push(target, {
        provider: content,
        descriptor: image.descriptor,
        present: new Set(blobs.map((b) => b.digest)),
        ...(signal ? { signal } : {}),
      }),
    );
  } catch (cause) {
    await uploads.cancel(cause);
    signal?.throwIfAborted();
    throw new ImagePushError(formatReference(target), { cause });
  }
  const key = distributionSourceLabel(target.domain);
  for (const blob of blobs) {
    const info = await content.info(blob.digest).catch(() => undefined);
    if (!info) continue;
    const repos = new Set((info.labels[key] ?? '').split(',').filter((r) => r !== ''));
    if (repos.has(target.path)) continue;
    repos.add(target.path);
    await content.updateLabels(blob.digest, { [key]: [...repos].sort().join(',') }).catch(() => undefined);
  }
}
