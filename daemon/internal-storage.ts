import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../content/index.js';
import type { StorageRecord } from '../solver/index.js';

/**
 * What kiln keeps besides cached results, so `du` counts every byte: blobs in the content store
 * (pulled and exported layers, manifests; freeable, they are refetched or recomputed when needed)
 * and the metadata database.
 */
export function internalStorage(options: { root: string; content: ContentStore }) {
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
      let db = 0;
      for (const file of ['kiln.db', 'kiln.db-wal', 'kiln.db-shm']) {
        db += (await stat(join(options.root, file)).catch(() => ({ size: 0 }))).size;
      }
      return [
        ...(size > 0 ? [record('content', size, 'content store blobs')] : []),
        { ...record('metadata', db, 'metadata database'), inUse: true },
      ];
    },
    async remove(r: StorageRecord): Promise<boolean> {
      if (r.id !== 'content') return false;
      await options.content.garbageCollect();
      return true;
    },
  };
}
