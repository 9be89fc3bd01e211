import type { ContentStore } from '../content/index.js';
import type { StorageRecord } from '../solver/index.js';

/**
 * What kiln keeps besides cached results: blobs in the content store (pulled and exported layers,
 * manifests; freeable, they are refetched or recomputed when needed). The metadata database is
 * not a record, as BuildKit lists none for its own: scripts expect `du` to be empty after
 * `prune --all`.
 */
export function internalStorage(options: { content: ContentStore }) {
  const record = (id: string, size: number, description: string): StorageRecord => ({
    id,
    mutable: false,
    inUse: false,
    size,
    parents: [],
    createdAt: new Date(0),
    usageCount: 0,
    description,
    recordType: 'internal',
    shared: false,
  });
  return {
    async records(): Promise<StorageRecord[]> {
      const { size } = await options.content.usage();
      return size > 0 ? [record('content', size, 'content store blobs')] : [];
    },
    async remove(r: StorageRecord): Promise<boolean> {
      if (r.id !== 'content') return false;
      await options.content.garbageCollect();
      return true;
    },
  };
}
