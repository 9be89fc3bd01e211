import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import { formatReference, parseReference, sha256, type Digest, type Platform } from '../../oci/index.js';
import { unpack, type LocalSnapshotter } from '../../snapshotter/index.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';
import { publishBytes } from '../events.js';
import type { RegistryAccess } from '../registry-access.js';

export interface ImageSourceDeps {
  readonly registries: RegistryAccess;
  readonly content: ContentStore;
  readonly snapshotter: LocalSnapshotter;
  readonly logger?: Logger;
}

type ResolveMode = 'default' | 'pull' | 'local';

/**
 * A `docker-image://` source: resolved to a manifest for the op's platform (the cache key), then
 * pulled and unpacked into a chain of snapshots shared by every image with the same layers.
 */
export class ImageSourceOp implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'regular';
  readonly #ref: string;
  readonly #mode: ResolveMode;
  #pinned: string | undefined;

  constructor(
    view: LlbOpView,
    private readonly platform: Platform,
    private readonly deps: ImageSourceDeps,
  ) {
    if (view.op.op.case !== 'source') throw new Error('not a source op');
    const source = view.op.op.value;
    this.#ref = formatReference(parseReference(source.identifier.slice('docker-image://'.length)));
    const mode = source.attrs['image.resolvemode'] ?? 'default';
    this.#mode = mode === 'pull' || mode === 'local' ? mode : 'default';
  }

  async cacheMap(ctx: OpContext): Promise<CacheMap> {
    const client = this.deps.registries.forSessions(ctx.sessionIds());
    const started = new Date();
    const resolved = await client.resolve(this.#ref, {
      mode: this.#mode,
      platform: this.platform,
      store: this.deps.content,
      signal: ctx.signal,
    });
    const manifest = resolved.manifest?.digest ?? resolved.descriptor.digest;
    this.#pinned = formatReference({ ...resolved.reference, digest: resolved.descriptor.digest });
    ctx.progress.status({
      id: `resolve ${this.#pinned}`,
      name: 'resolve',
      current: 0,
      total: 0,
      started,
      completed: new Date(),
    });
    return {
      digest: sha256(
        `image|${manifest}|${this.platform.os}/${this.platform.architecture}/${this.platform.variant ?? ''}`,
      ),
      deps: [],
    };
  }

  /**
   * Remembers which repository each blob came from (containerd's distribution-source label), so a
   * push to that registry mounts the blob instead of uploading it again.
   */
  async #labelSources(
    domain: string,
    repository: string,
    blobs: readonly { digest: Digest }[],
  ): Promise<void> {
    const label = `containerd.io/distribution.source.${domain}`;
    for (const blob of blobs) {
      const info = await this.deps.content.info(blob.digest).catch(() => undefined);
      if (!info) continue;
      const repos = new Set((info.labels[label] ?? '').split(',').filter(Boolean));
      if (repos.has(repository)) continue;
      repos.add(repository);
      await this.deps.content.updateLabels(blob.digest, { [label]: [...repos].sort().join(',') });
    }
  }

  async exec(ctx: OpContext): Promise<readonly ResultRef[]> {
    const client = this.deps.registries.forSessions(ctx.sessionIds());
    const started = new Map<string, Date>();
    const pulled = await client.pull(this.#pinned ?? this.#ref, {
      platform: this.platform,
      store: this.deps.content,
      mode: this.#mode,
      signal: ctx.signal,
      onProgress: (p) => {
        const id = p.descriptor.digest;
        if (p.status === 'done') publishBytes('pulled', p.descriptor.size);
        if (!started.has(id)) started.set(id, new Date());
        ctx.progress.status({
          id,
          name: 'downloading',
          current: p.status === 'downloading' ? p.offset : p.descriptor.size,
          total: p.descriptor.size,
          started: started.get(id)!,
          ...(p.status === 'downloading' ? {} : { completed: new Date() }),
        });
      },
    });
    const layers = pulled.layers;
    await this.#labelSources(pulled.reference.domain, pulled.reference.path, [
      ...layers,
      pulled.config.descriptor,
    ]);
    if (layers.length === 0) return [{ snapshot: undefined }];
    const extracting = new Date();
    const result = await unpack({
      snapshotter: this.deps.snapshotter,
      content: this.deps.content,
      layers,
      diffIds: pulled.config.value.rootfs.diff_ids as Digest[],
      signal: ctx.signal,
      ...(this.deps.logger ? { logger: this.deps.logger } : {}),
    });
    if (result.applied > 0) {
      ctx.progress.status({
        id: `extracting ${pulled.manifest.descriptor.digest}`,
        name: 'extracting',
        current: 0,
        total: 0,
        started: extracting,
        completed: new Date(),
      });
    }
    return [{ snapshot: result.key }];
  }
}
