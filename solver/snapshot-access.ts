import { newId } from './job.js';
import type { LocalSnapshotter } from '../snapshotter/index.js';

/**
 * Read-only access to a committed snapshot's tree. A snapshot without parent is read in place
 * (its directory holds the whole tree); anything else is mounted as a view for the duration.
 */
export class SnapshotAccess {
  constructor(private readonly snapshotter: LocalSnapshotter) {}

  async withTree<T>(snapshot: string, fn: (dir: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const info = await this.snapshotter.stat(snapshot);
    if (!info.parent) {
      const source = await this.snapshotter.changeSource(snapshot);
      return fn(source.dir);
    }
    const key = `view-${newId()}`;
    const mounts = await this.snapshotter.view(key, snapshot);
    try {
      return await this.snapshotter.withTempMount(mounts, fn, signal ? { signal } : {});
    } finally {
      await this.snapshotter.remove(key);
    }
  }
}
