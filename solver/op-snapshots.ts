import type { LocalSnapshotter, Mount } from '../snapshotter/index.js';
import type { OpSnapshots } from './ops/index.js';

/** The snapshotter as ops use it. */
export function opSnapshots(snapshotter: LocalSnapshotter): OpSnapshots {
  return {
    prepare: (key, parent) => snapshotter.prepare(key, parent),
    view: (key, parent) => snapshotter.view(key, parent),
    commit: (name, key) => snapshotter.commit(name, key),
    remove: (key) => snapshotter.remove(key),
    withMount: <T>(mounts: readonly Mount[], fn: (dir: string) => Promise<T>) =>
      snapshotter.withTempMount(mounts, fn),
  };
}
