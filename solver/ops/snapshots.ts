import type { Mount } from '../../snapshotter/index.js';

/**
 * What ops need from the snapshotter, in the shape of containerd's interface: active snapshots
 * are prepared on a parent, mounted, then committed under a new name (immutable from then on).
 */
export interface OpSnapshots {
  prepare(key: string, parent: string | undefined): Promise<readonly Mount[]>;
  view(key: string, parent: string | undefined): Promise<readonly Mount[]>;
  commit(name: string, key: string): Promise<void>;
  remove(key: string): Promise<void>;
  /** Mounts `mounts` on a private temporary directory for the duration of `fn`. */
  withMount<T>(
    mounts: readonly Mount[],
    fn: (dir: string) => Promise<T>,
    options?: { readonly?: boolean },
  ): Promise<T>;
}
