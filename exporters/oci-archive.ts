import { readBlob, type ContentProvider } from '../content/index.js';
import {
  digestHex,
  familiarName,
  isIndexMediaType,
  isManifestMediaType,
  MediaType,
  parseReference,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../oci/index.js';
import { tarHeader, tarPadding, tarTrailer } from '../snapshotter/index.js';
import { descriptorJson, goJson, sorted } from './go-json.js';

/** An image's blobs and manifests, children before the manifests and indexes that name them. */
export interface ImageGraph {
  readonly nodes: readonly Descriptor[];
  /** The image manifests (attestation manifests excluded), in index order (for Docker's manifest.json). */
  readonly images: readonly ImageManifest[];
}

/** Reads the image under `top` from `provider` (manifests and indexes only; blobs are not opened). */
export async function imageGraph(
  provider: ContentProvider,
  top: Descriptor,
  signal?: AbortSignal,
): Promise<ImageGraph> {
  const seen = new Set<string>();
  const nodes: Descriptor[] = [];
  const images: ImageManifest[] = [];
  const visit = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (isIndexMediaType(d.mediaType)) {
      const index = JSON.parse(
        (await readBlob(provider, d.digest, signal ? { signal } : {})).toString('utf8'),
      ) as ImageIndex;
      for (const child of index.manifests) await visit(child);
    } else if (isManifestMediaType(d.mediaType)) {
      const manifest = JSON.parse(
        (await readBlob(provider, d.digest, signal ? { signal } : {})).toString('utf8'),
      ) as ImageManifest;
      if (d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') images.push(manifest);
      for (const child of [manifest.config, ...manifest.layers]) await visit(child);
    }
    nodes.push({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  };
  await visit(top);
  return { nodes, images };
}

export interface ArchiveOptions {
  readonly variant: 'oci' | 'docker';
  /** The image's top level as index.json lists it (with its descriptor annotations). */
  readonly descriptor: Descriptor;
  /** Normalised names (`docker.io/library/app:latest`); one index.json entry each. */
  readonly names: readonly string[];
  /** mtime of every member, in seconds (SOURCE_DATE_EPOCH, or 0). */
  readonly mtime: number;
  readonly signal?: AbortSignal;
}

function member(name: string, data: Buffer, mtime: number): Buffer[] {
  return [
    tarHeader({ name, type: 'file', mode: 0o444, uid: 0, gid: 0, size: data.length, mtime }),
    data,
    tarPadding(data.length),
  ];
}

/** index.json: one entry per name, annotated as containerd's archive exporter does. */
export function layoutIndex(descriptor: Descriptor, names: readonly string[]): Buffer {
  const entries =
    names.length === 0
      ? [descriptor]
      : names.map((name) => ({
          ...descriptor,
          annotations: {
            ...descriptor.annotations,
            'io.containerd.image.name': name,
            'org.opencontainers.image.ref.name': parseReference(name).tag ?? 'latest',
          },
        }));
  return Buffer.from(
    goJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries.map(descriptorJson) }),
  );
}

/**
 * An OCI image layout as a tar stream (`--output type=oci|docker`): `blobs/sha256/…` for every
 * blob of the image, `oci-layout` and `index.json`; the Docker variant adds `manifest.json`
 * (Config, RepoTags, Layers) and `repositories`, which `docker load` reads. Blobs stream from
 * `provider`, one at a time. Throws content store errors (not-found for a missing blob).
 */
export async function* ociArchive(
  provider: ContentProvider,
  options: ArchiveOptions,
): AsyncGenerator<Buffer> {
  const { mtime, signal } = options;
  const graph = await imageGraph(provider, options.descriptor, signal);
  for (const dir of ['blobs/', 'blobs/sha256/']) {
    yield tarHeader({ name: dir.slice(0, -1), type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime });
  }
  for (const node of graph.nodes) {
    signal?.throwIfAborted();
    yield tarHeader({
      name: `blobs/sha256/${digestHex(node.digest)}`,
      type: 'file',
      mode: 0o444,
      uid: 0,
      gid: 0,
      size: node.size,
      mtime,
    });
    for await (const chunk of await provider.reader(node.digest, signal ? { signal } : {}))
      yield chunk as Buffer;
    yield tarPadding(node.size);
  }
  yield* member('oci-layout', Buffer.from(goJson({ imageLayoutVersion: '1.0.0' })), mtime);
  yield* member('index.json', layoutIndex(options.descriptor, options.names), mtime);
  if (options.variant === 'docker') {
    const manifest = graph.images[0];
    if (manifest) {
      const blobPath = (d: Descriptor): string => `blobs/sha256/${digestHex(d.digest)}`;
      const tags = options.names.map((n) => familiarName(parseReference(n)));
      const entry = {
        Config: blobPath(manifest.config),
        RepoTags: tags,
        Layers: manifest.layers.map(blobPath),
      };
      yield* member('manifest.json', Buffer.from(goJson([entry])), mtime);
      const repositories: Record<string, Record<string, string>> = {};
      for (const name of options.names) {
        const ref = parseReference(name);
        const repo = familiarName({ domain: ref.domain, path: ref.path });
        repositories[repo] = {
          ...repositories[repo],
          [ref.tag ?? 'latest']: digestHex(manifest.config.digest),
        };
      }
      if (options.names.length > 0) {
        const ordered = Object.fromEntries(Object.entries(repositories).map(([k, v]) => [k, sorted(v)]));
        yield* member('repositories', Buffer.from(goJson(ordered)), mtime);
      }
    }
  }
  yield tarTrailer;
}
