import type { Database } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { diskUsage } from './disk-usage.js';
import {
  SnapshotHasChildrenError,
  SnapshotKindError,
  SnapshotterArgumentError,
  SnapshotterClosedError,
} from './errors.js';
import { SnapshotMetadata, type SnapshotRow, toInfo } from './metadata.js';
import type { Mount } from './mount.js';
import { mountPointsUnder, unmountAll, withTempMount } from './mounting.js';
import type {
  ChangeSource,
  LayerRecord,
  LocalSnapshotter,
  PrepareOptions,
  SnapshotInfo,
  SnapshotKind,
  Usage,
  WritableLayer,
} from './snapshotter.js';

export interface DirSnapshotterOptions {
  /**
   * The snapshotter's own directory (the daemon passes `<root>/snapshots`); each snapshot lives in
   * `<root>/<id>/` with `id` a short base-36 number that is never reused.
   */
  readonly root: string;
  /** The daemon's database (WAL on); the snapshotter creates its `snapshot_*` tables. */
  readonly db: Database;
  readonly logger?: Logger;
}

/** Where temporary mounts live, under the snapshotter's root (never a snapshot id: it has a dash). */
const tempMountsDir = 'tmp-mounts';

/**
 * What both local snapshotters share: metadata in SQLite, one directory per snapshot, the
 * lifecycle checks. Subclasses decide how a snapshot's directory is filled and mounted.
 */
export abstract class DirSnapshotter implements LocalSnapshotter {
  abstract readonly driver: 'overlayfs' | 'native';
  protected readonly root: string;
  protected readonly meta: SnapshotMetadata;
  protected readonly logger: Logger | undefined;
  #closed = false;

  constructor(options: DirSnapshotterOptions, driver: 'overlayfs' | 'native') {
    this.root = options.root;
    this.logger = options.logger;
    this.meta = new SnapshotMetadata({ db: options.db, driver });
    mkdirSync(this.root, { recursive: true });
  }

  /** Fills the new snapshot's directory; on failure the row and directory are removed again. */
  protected abstract populate(
    row: SnapshotRow,
    parent: SnapshotRow | undefined,
    signal?: AbortSignal,
  ): Promise<void>;
  protected abstract mountsFor(row: SnapshotRow, signal?: AbortSignal): Promise<Mount[]>;
  protected abstract layerFor(row: SnapshotRow): Promise<WritableLayer>;
  protected abstract changesFor(row: SnapshotRow): ChangeSource;
  /** Called once the row is committed; past the point of no return, so failures are only logged. */
  protected async committed(_row: SnapshotRow): Promise<void> {}

  protected dirOf(row: Pick<SnapshotRow, 'id'>): string {
    return join(this.root, row.id.toString(36));
  }

  protected fsOf(row: Pick<SnapshotRow, 'id'>): string {
    return join(this.dirOf(row), 'fs');
  }

  protected check(): void {
    if (this.#closed) throw new SnapshotterClosedError();
  }

  protected row(key: string): SnapshotRow {
    this.check();
    return this.meta.get(key);
  }

  protected rowOfKind(key: string, kinds: readonly SnapshotKind[], operation: string): SnapshotRow {
    const row = this.row(key);
    if (!kinds.includes(row.kind)) {
      throw new SnapshotKindError({ key, actual: row.kind, expected: kinds, operation });
    }
    return row;
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(this.row(key));
  }

  async update(info: {
    readonly key: string;
    readonly labels: Readonly<Record<string, string>>;
  }): Promise<SnapshotInfo> {
    this.meta.setLabels(this.row(info.key), info.labels);
    return this.stat(info.key);
  }

  async usage(key: string, options: { signal?: AbortSignal } = {}): Promise<Usage> {
    const row = this.row(key);
    if (row.kind === 'committed' && row.size !== null && row.inodes !== null) {
      return { size: row.size, inodes: row.inodes };
    }
    const usage = await diskUsage(this.fsOf(row), options);
    if (row.kind === 'committed') this.meta.setUsage(row.id, usage.size, usage.inodes);
    return usage;
  }

  async mounts(key: string, options: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    return this.mountsFor(this.row(key), options.signal);
  }

  prepare(key: string, parent?: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create('active', key, parent, options);
  }

  view(key: string, parent?: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create('view', key, parent, options);
  }

  async #create(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    options: PrepareOptions,
  ): Promise<Mount[]> {
    this.check();
    if (key === '') throw new SnapshotterArgumentError({ what: 'snapshot key', reason: 'it is empty' });
    const parentRow =
      parent === undefined
        ? undefined
        : this.rowOfKind(parent, ['committed'], `${kind === 'view' ? 'view' : 'prepare'} ${key}`);
    const row = this.meta.insert({ key, parent: parentRow, kind, labels: options.labels ?? {} });
    try {
      options.signal?.throwIfAborted();
      await mkdir(this.fsOf(row), { recursive: true });
      await this.populate(row, parentRow, options.signal);
      options.signal?.throwIfAborted();
      return await this.mountsFor(row, options.signal);
    } catch (error) {
      this.meta.delete(row);
      await rm(this.dirOf(row), { recursive: true, force: true });
      throw error;
    }
  }

  async commit(
    name: string,
    key: string,
    options: { labels?: Readonly<Record<string, string>> } = {},
  ): Promise<void> {
    if (name === '') throw new SnapshotterArgumentError({ what: 'snapshot name', reason: 'it is empty' });
    const row = this.rowOfKind(key, ['active'], `commit ${name}`);
    this.meta.commit(row, name, options.labels ?? {});
    try {
      await this.committed(row);
    } catch (error) {
      this.logger?.warn({ err: error, key: name }, 'snapshot committed, but tidying its directory failed');
    }
  }

  async remove(key: string): Promise<void> {
    const row = this.row(key);
    const children = this.meta.delete(row);
    if (children.length > 0) throw new SnapshotHasChildrenError({ key, children });
    // Renamed first, so a crash in the middle leaves debris cleanup() recognises, not a half snapshot.
    const trash = join(this.root, `trash-${row.id.toString(36)}`);
    try {
      await rename(this.dirOf(row), trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(trash, { recursive: true, force: true });
  }

  async walk(fn: (info: SnapshotInfo) => boolean | void | Promise<boolean | void>): Promise<void> {
    this.check();
    for (const row of this.meta.all()) {
      if ((await fn(toInfo(row))) === false) return;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async writableLayer(key: string): Promise<WritableLayer> {
    return this.layerFor(this.rowOfKind(key, ['active'], 'apply a layer to'));
  }

  async changeSource(key: string): Promise<ChangeSource> {
    return this.changesFor(this.rowOfKind(key, ['committed'], 'diff'));
  }

  async layerRecord(key: string, compression: string): Promise<LayerRecord | undefined> {
    return this.meta.layer(this.row(key).id, compression);
  }

  async recordLayer(key: string, compression: string, record: LayerRecord): Promise<void> {
    this.meta.setLayer(this.rowOfKind(key, ['committed'], 'record a layer for').id, compression, record);
  }

  async withTempMount<T>(
    mounts: readonly Mount[],
    fn: (dir: string) => Promise<T>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    this.check();
    const parent = join(this.root, tempMountsDir);
    await mkdir(parent, { recursive: true, mode: 0o700 });
    return withTempMount(mounts, fn, { ...options, parent });
  }

  async cleanup(options: { signal?: AbortSignal } = {}): Promise<{ removed: number }> {
    this.check();
    let removed = await this.#cleanupTempMounts(options.signal);
    const ids = this.meta.allIds();
    for (const name of await readdir(this.root)) {
      options.signal?.throwIfAborted();
      const owned = /^[0-9a-z]+$/.test(name) && ids.has(parseInt(name, 36));
      if (owned || !/^(trash-)?[0-9a-z]+$/.test(name)) continue;
      const dir = join(this.root, name);
      if ((await mountPointsUnder(dir)).length > 0) {
        this.logger?.warn({ dir }, 'orphan snapshot directory is still mounted; left in place');
        continue;
      }
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
    return { removed };
  }

  /**
   * Unmounts what a killed daemon left under the temporary mounts' directory. Each directory is
   * only rmdir'ed, so a mount that refuses to go cannot take a snapshot's files with it.
   */
  async #cleanupTempMounts(signal?: AbortSignal): Promise<number> {
    const parent = join(this.root, tempMountsDir);
    const names = await readdir(parent).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    let removed = 0;
    for (const name of names) {
      signal?.throwIfAborted();
      const dir = join(parent, name);
      const failures = await unmountAll(dir);
      if (failures.length > 0) {
        this.logger?.warn(
          { dir, err: failures[0] },
          'leftover temporary mount cannot be unmounted; left in place',
        );
        continue;
      }
      try {
        await rmdir(dir);
        removed++;
      } catch (error) {
        this.logger?.warn({ dir, err: error }, 'leftover temporary mount directory cannot be removed');
      }
    }
    return removed;
  }
}
