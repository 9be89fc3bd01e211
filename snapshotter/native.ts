import { DirSnapshotter, type DirSnapshotterOptions } from './dir-snapshotter.js';
import { MountError } from './errors.js';
import type { SnapshotRow } from './metadata.js';
import type { Mount } from './mount.js';
import { runTool } from './mounting.js';
import { bindMount } from './overlay-chain.js';
import type { ChangeSource, WritableLayer } from './snapshotter.js';

/**
 * Copy-based snapshots for filesystems where overlayfs cannot be mounted. Every snapshot owns a full
 * tree in `<root>/<id>/fs`; `prepare` copies the parent's tree with `cp -a --reflink=auto`, so the
 * active snapshot gets independent copies (reflinks where the filesystem has them, full copies
 * elsewhere), never hardlinks into the immutable parent. Cost: prepare is proportional to the
 * parent's size; view and commit are O(1) (a view binds the committed parent read-only). Because
 * each tree is a full copy, `usage` of a native snapshot includes what it copied from its parent.
 */
export class NativeSnapshotter extends DirSnapshotter {
  readonly driver = 'native' as const;

  constructor(options: DirSnapshotterOptions) {
    super(options, 'native');
  }

  #parent(row: SnapshotRow): SnapshotRow | undefined {
    return row.parentId === null ? undefined : this.meta.byId(row.parentId);
  }

  protected override async populate(
    row: SnapshotRow,
    parent: SnapshotRow | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    if (row.kind !== 'active' || !parent) return;
    const target = this.fsOf(row);
    const r = await runTool('cp', ['-a', '--reflink=auto', `${this.fsOf(parent)}/.`, `${target}/`], signal);
    if (!r.ok) {
      signal?.throwIfAborted();
      throw new MountError({ op: 'copy', target, output: r.output, cause: r.cause });
    }
  }

  protected override async mountsFor(row: SnapshotRow): Promise<Mount[]> {
    const parent = this.#parent(row);
    if (row.kind === 'view' && parent) return [bindMount(this.fsOf(parent), true)];
    return [bindMount(this.fsOf(row), row.kind !== 'active')];
  }

  protected override async layerFor(row: SnapshotRow): Promise<WritableLayer> {
    return { dir: this.fsOf(row), lowers: [], whiteouts: 'delete' };
  }

  protected override changesFor(row: SnapshotRow): ChangeSource {
    const parent = this.#parent(row);
    return parent
      ? { kind: 'compare', dir: this.fsOf(row), parentDir: this.fsOf(parent) }
      : { kind: 'compare', dir: this.fsOf(row) };
  }
}
