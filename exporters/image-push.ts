import type { ContentStore } from '../content/index.js';
import {
  formatReference,
  isIndexMediaType,
  isManifestMediaType,
  parseReference,
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

/** The reference a name is pushed to: its tag (default `latest`), or only the digest (`push-by-digest`). */
export function pushTarget(name: string, image: CommittedImage, byDigest: boolean): ImageReference {
  const ref = parseReference(name);
  if (byDigest) {
    if (explicitlyTagged(name)) {
      throw new ExporterRequestError(`can't push tagged ref ${name} by digest`, {
        attribute: 'push-by-digest',
      });
    }
    return { domain: ref.domain, path: ref.path, digest: image.descriptor.digest };
  }
  return { domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' };
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

/** Runs tasks together; the first failure aborts the others, and the call settles when all have. */
async function allOrAbort(controller: AbortController, tasks: Array<() => Promise<void>>): Promise<void> {
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
 * Pushes a committed image to one name: blobs in parallel (skipped when the registry has them,
 * mounted from another repository of the same registry when the content store remembers one
 * that holds them), then manifests by digest, then the top level under the tag. Afterwards the
 * blobs are labelled with the repository, so later pushes elsewhere on that registry can mount
 * them. Progress: `pushing layers` with a counter per blob, then `pushing manifest for NAME@DIGEST`.
 * Throws ImagePushError (kind from the registry error) or the signal's reason.
 */
export async function pushImage(
  ctx: PushContext,
  image: CommittedImage,
  target: ImageReference,
): Promise<void> {
  const { client, content, progress } = ctx;
  const controller = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, controller.signal]) : controller.signal;
  const display = formatReference({ ...target, digest: image.descriptor.digest });
  const graph = await imageGraph(content, image.descriptor, signal);
  const blobs = graph.nodes.filter(
    (d) => !isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType),
  );
  try {
    // Blob by blob first, so each is mounted from a repository known to hold it; the image push
    // that follows finds them all present.
    await step(progress, 'pushing layers', () =>
      allOrAbort(
        controller,
        blobs.map((blob) => async () => {
          const report = counter(progress, blob.digest, blob.size);
          const pushed = await client.pushBlob(
            target,
            blob,
            (offset) => content.reader(blob.digest, { offset, signal }),
            {
              mountFrom: await sourcesOf(content, blob.digest, target.domain),
              signal,
              onProgress: (offset) => report(offset),
            },
          );
          if (pushed === 'uploaded') publishBytes('pushed', blob.size);
          report(blob.size, true);
        }),
      ),
    );
    await step(progress, `pushing manifest for ${display}`, () =>
      client.push(target, {
        provider: content,
        descriptor: image.descriptor,
        present: new Set(blobs.map((b) => b.digest)),
        signal,
      }),
    );
  } catch (cause) {
    ctx.signal?.throwIfAborted();
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
