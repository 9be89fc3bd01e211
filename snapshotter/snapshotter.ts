import type { Mount } from './mount.js';

/**
 * Snapshots are the filesystems builds run in and layers unpack into.
 *
 * Vocabulary. Every snapshot has a `key`, unique across all kinds (one key space). A snapshot is
 * one of three kinds:
 * - **active** (`prepare`): writable. Mount it, change files, then `commit` it.
 * - **view** (`view`): a read-only look at a committed parent; never committed, only removed.
 * - **committed** (`commit`): immutable, named by the `name` given to `commit`. Only committed
 *   snapshots can be a `parent`. Files of a committed snapshot are never modified in place, so other
 *   snapshots (and the context receiver) may hardlink them.
 *
 * Importing a layer: `prepare('extract-…', parentChainId)` → apply the layer tar into it →
 * `commit(chainId, 'extract-…')`. Running a step: `prepare(key, parent)` → mount the returned
 * mounts as the container's rootfs → run → unmount → `commit(name, key)` (or `remove(key)`).
 * Unmount before `commit` and `remove`: a snapshot is never unmounted for the caller.
 *
 * Errors carry a `kind`: not-found (unknown key or parent), already-exists (taken key),
 * failed-precondition (wrong kind of snapshot, removing one with children, closed snapshotter),
 * invalid-argument (empty key). Metadata lives in SQLite and every operation on it is atomic;
 * directories are created after the row and removed after it.
 */
export interface Snapshotter {
  /** Cheap (one SQLite read). Throws not-found. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Replaces the snapshot's labels (the only mutable field) and returns the new info. Throws not-found. */
  update(info: {
    readonly key: string;
    readonly labels: Readonly<Record<string, string>>;
  }): Promise<SnapshotInfo>;
  /**
   * Bytes and inodes the snapshot itself holds, excluding its parents (hardlinked inodes counted
   * once). Walks the snapshot's directory, so cost is proportional to its size; a committed
   * snapshot's usage is computed once and remembered. Honours `signal`.
   */
  usage(key: string, options?: { signal?: AbortSignal }): Promise<Usage>;
  /**
   * How to mount the snapshot: writable for active, read-only for view and committed. Mount them in
   * order at one target (see `mountAll`). Cheap, except that an overlay chain too long for one
   * mount(2) option string is first flattened once (see OverlaySnapshotter). Throws not-found.
   */
  mounts(key: string, options?: { signal?: AbortSignal }): Promise<Mount[]>;
  /**
   * Creates an active snapshot on top of the committed `parent` (or empty) and returns its mounts.
   * Cost: overlay O(1); native copies the parent tree. Throws already-exists for a taken key,
   * not-found for a missing parent, failed-precondition when the parent is not committed.
   */
  prepare(key: string, parent?: string, options?: PrepareOptions): Promise<Mount[]>;
  /** Like prepare, but read-only and never committable. Cheap on both implementations. */
  view(key: string, parent?: string, options?: PrepareOptions): Promise<Mount[]>;
  /**
   * Turns the active snapshot `key` into the committed snapshot `name` (the key is gone afterwards),
   * keeping its data and merging `labels` into its labels. Throws not-found, already-exists (name
   * taken) or failed-precondition (`key` is not active).
   */
  commit(name: string, key: string, options?: { labels?: Readonly<Record<string, string>> }): Promise<void>;
  /**
   * Deletes a snapshot of any kind and its data (and its remembered layer blobs' records). Throws
   * not-found, or failed-precondition when other snapshots have it as parent.
   */
  remove(key: string): Promise<void>;
  /** Calls `fn` for every snapshot, parents before children; stops when `fn` returns false. */
  walk(fn: (info: SnapshotInfo) => boolean | void | Promise<boolean | void>): Promise<void>;
  /** Afterwards every call throws SnapshotterClosedError; closing twice is fine. Leaves data in place. */
  close(): Promise<void>;
}

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  readonly key: string;
  /** The committed parent's key; absent for a snapshot made from nothing. */
  readonly parent?: string;
  readonly kind: SnapshotKind;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Usage {
  readonly size: number;
  readonly inodes: number;
}

export interface PrepareOptions {
  readonly labels?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/**
 * Where an active snapshot takes layer changes: `dir` is written directly; `lowers` (topmost
 * first) are read-only layers visible below it. With `whiteouts: 'overlay'` deletions become
 * overlay whiteouts (char device 0/0, `trusted.overlay.opaque`); with `'delete'` they remove files.
 */
export interface WritableLayer {
  readonly dir: string;
  readonly lowers: readonly string[];
  readonly whiteouts: 'overlay' | 'delete';
}

/**
 * How to list what a committed snapshot changed against its parent: `upper` walks a directory
 * holding only the changes (overlay whiteouts mark deletions); `compare` compares the snapshot's
 * full tree with its parent's full tree (no `parentDir` when it has no parent).
 */
export type ChangeSource =
  | { readonly kind: 'upper'; readonly dir: string }
  | { readonly kind: 'compare'; readonly dir: string; readonly parentDir?: string };

/** A layer blob remembered for a committed snapshot (computed by diff, or pulled with it). */
export interface LayerRecord {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly diffId: string;
}

/**
 * A snapshotter kiln runs on this machine, with direct access to its directories for layer apply
 * and diff. Both OverlaySnapshotter and NativeSnapshotter implement it.
 */
export interface LocalSnapshotter extends Snapshotter {
  readonly driver: 'overlayfs' | 'native';
  /** For an active snapshot. Throws not-found or failed-precondition (not active). */
  writableLayer(key: string): Promise<WritableLayer>;
  /** For a committed snapshot. Throws not-found or failed-precondition (not committed). */
  changeSource(key: string): Promise<ChangeSource>;
  /** The layer blob remembered for (snapshot, compression), if any. */
  layerRecord(key: string, compression: string): Promise<LayerRecord | undefined>;
  /** Remembers a layer blob for a committed snapshot (replacing one of the same compression). */
  recordLayer(key: string, compression: string, record: LayerRecord): Promise<void>;
  /**
   * Mounts `mounts` on a temporary directory under the snapshotter's own root for the duration of
   * `fn`, so that what a killed daemon left mounted is found by the next start's `cleanup()`.
   */
  withTempMount<T>(
    mounts: readonly Mount[],
    fn: (dir: string) => Promise<T>,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
  /**
   * Unmounts and removes the temporary mounts and directories no snapshot owns (left by a crash).
   * Run at startup, before use.
   */
  cleanup(options?: { signal?: AbortSignal }): Promise<{ removed: number }>;
}
