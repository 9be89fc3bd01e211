import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../../content/index.js';
import { Digester, formatPlatform, layerMediaType, sha256, type Platform } from '../../oci/index.js';
import { MountType, type Op } from '../../proto/gen/pb/ops_pb.js';
import { compress } from '../../snapshotter/index.js';
import type { CacheMounts } from '../../solver/index.js';
import { treeTar } from '../tree-tar.js';
import type { CacheLayerOptions } from './attributes.js';
import type { ChainLayer } from './chains.js';
import type { ImportedCache } from './imported-cache.js';

/** A cache mount a build's steps use: its id, and the platform of the first step using it. */
export interface UsedCacheMount {
  readonly id: string;
  readonly platform?: string;
}

/** The cache mounts (`RUN --mount=type=cache`) the steps of a build use, by id (BuildKit's: ID, else the target). */
export function usedCacheMounts(ops: ReadonlyArray<Op | undefined>): UsedCacheMount[] {
  const out = new Map<string, UsedCacheMount>();
  for (const op of ops) {
    if (op?.op.case !== 'exec') continue;
    for (const m of op.op.value.mounts) {
      if (m.mountType !== MountType.CACHE) continue;
      const id = m.cacheOpt?.ID || m.dest;
      if (out.has(id)) continue;
      const p = op.platform;
      const platform: Platform | undefined =
        p?.OS && p.Architecture
          ? { os: p.OS, architecture: p.Architecture, ...(p.Variant ? { variant: p.Variant } : {}) }
          : undefined;
      out.set(id, { id, ...(platform ? { platform: formatPlatform(platform) } : {}) });
    }
  }
  return [...out.values()];
}

/** An exported cache mount: its layer (a compressed tar of the directory's contents). */
export interface ExportedCacheMount extends UsedCacheMount {
  readonly layer: ChainLayer;
}

/**
 * The layers holding the contents of `used` cache mounts: the daemon's directory (most recently
 * used instance) as a tar compressed like the cache's layers, written to the content store under
 * `lease`; a mount this daemon has no directory for (its steps were all cached) keeps the blob of
 * an imported cache, so contents survive builds that never ran the step. Mounts found nowhere are
 * left out. Cost: one read and compression of each directory.
 */
export async function exportCacheMounts(options: {
  used: readonly UsedCacheMount[];
  cacheMounts: CacheMounts;
  imported: readonly ImportedCache[];
  content: ContentStore;
  layer: CacheLayerOptions;
  lease: string;
  signal?: AbortSignal;
}): Promise<ExportedCacheMount[]> {
  const { cacheMounts, content, layer, lease, signal } = options;
  const dirs = cacheMounts.list();
  const out: ExportedCacheMount[] = [];
  for (const used of options.used) {
    signal?.throwIfAborted();
    const dir = dirs.filter((d) => d.id === used.id).at(-1)?.dir;
    if (dir) {
      out.push({
        ...used,
        layer: await tarDirectory(dir, { content, layer, lease, id: used.id, ...(signal ? { signal } : {}) }),
      });
      continue;
    }
    for (const cache of options.imported) {
      const found = await cache.mount(used.id);
      if (found) {
        out.push({
          ...used,
          layer: { descriptor: found.descriptor, diffId: found.diffId, createdAt: new Date() },
        });
        break;
      }
    }
  }
  return out;
}

async function tarDirectory(
  dir: string,
  options: {
    content: ContentStore;
    layer: CacheLayerOptions;
    lease: string;
    id: string;
    signal?: AbortSignal;
  },
): Promise<ChainLayer> {
  const { content, layer, lease, signal } = options;
  const diffId = new Digester();
  const tar = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of treeTar(dir)) {
      signal?.throwIfAborted();
      diffId.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  };
  const writer = await content.writer({
    ref: `cache-mount-${sha256(options.id).slice(7, 23)}-${randomBytes(4).toString('hex')}`,
    lease,
    ...(signal ? { signal } : {}),
  });
  try {
    for await (const chunk of compress(tar(), layer.compression, { level: layer.level })) {
      await writer.write(chunk);
    }
    const info = await writer.commit();
    return {
      descriptor: {
        mediaType: layerMediaType(layer.compression, layer.oci),
        digest: info.digest,
        size: info.size,
      },
      diffId: diffId.digest(),
      createdAt: new Date(),
    };
  } finally {
    await writer.abort();
  }
}
