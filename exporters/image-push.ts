import type { ContentStore } from '../content/index.js';
import { formatReference, parseReference, type Descriptor, type ImageReference } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import { ExporterRequestError, ImagePushError } from './errors.js';
import type { CommittedImage } from './image-writer.js';
import { counter, type ExportProgress } from './progress.js';

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

async function sourcesOf(
  content: ContentStore,
  blobs: readonly Descriptor[],
  domain: string,
): Promise<string[]> {
  const repos = new Set<string>();
  for (const blob of blobs) {
    const info = await content.info(blob.digest).catch(() => undefined);
    for (const repo of (info?.labels[distributionSourceLabel(domain)] ?? '').split(',')) {
      if (repo) repos.add(`${domain}/${repo}`);
    }
  }
  return [...repos];
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
  const { client, content, progress, signal } = ctx;
  const display = formatReference({ ...target, digest: image.descriptor.digest });
  const started = new Date();
  const status = (id: string, completed?: Date): void =>
    progress.sink.write({
      type: 'status',
      status: {
        id,
        vertex: progress.vertex.digest,
        name: id,
        current: 0,
        total: 0,
        timestamp: completed ?? new Date(),
        started,
        ...(completed ? { completed } : {}),
      },
    });
  const manifestStep = `pushing manifest for ${display}`;
  let phase: 'layers' | 'manifests' = 'layers';
  const blobProgress = new Map<string, (current: number, done?: boolean) => void>();
  status('pushing layers');
  try {
    await client.push(target, {
      provider: content,
      descriptor: image.descriptor,
      mountFrom: await sourcesOf(content, image.blobs, target.domain),
      ...(signal ? { signal } : {}),
      onProgress: (p) => {
        if (p.status === 'manifest') {
          if (phase === 'layers') {
            phase = 'manifests';
            status('pushing layers', new Date());
            status(manifestStep);
          }
          return;
        }
        let report = blobProgress.get(p.descriptor.digest);
        if (!report) {
          report = counter(progress, p.descriptor.digest, p.descriptor.size);
          blobProgress.set(p.descriptor.digest, report);
        }
        report(p.offset, p.status !== 'uploading');
      },
    });
  } catch (cause) {
    signal?.throwIfAborted();
    throw new ImagePushError(formatReference(target), { cause });
  } finally {
    if (phase === 'layers') status('pushing layers', new Date());
    else status(manifestStep, new Date());
  }
  const key = distributionSourceLabel(target.domain);
  for (const blob of image.blobs) {
    const info = await content.info(blob.digest).catch(() => undefined);
    if (!info) continue;
    const repos = new Set((info.labels[key] ?? '').split(',').filter((r) => r !== ''));
    if (repos.has(target.path)) continue;
    repos.add(target.path);
    await content.updateLabels(blob.digest, { [key]: [...repos].sort().join(',') }).catch(() => undefined);
  }
}
