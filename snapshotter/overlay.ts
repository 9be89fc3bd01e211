import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DirSnapshotter, type DirSnapshotterOptions } from './dir-snapshotter.js';
import { MountError, SnapshotterArgumentError } from './errors.js';
import type { SnapshotRow } from './metadata.js';
import type { Mount } from './mount.js';
import { runTool } from './mounting.js';
import {
  bindMount,
  type ChainLink,
  mountOptionLimit,
  overlayFeatureOptions,
  overlayMount,
  planLowers,
} from './overlay-chain.js';
import type { ChangeSource, WritableLayer } from './snapshotter.js';

export interface OverlaySnapshotterOptions extends DirSnapshotterOptions {
  /**
   * Bytes the `lowerdir=` list may take. Defaults to one page less the other options; lower it
   * only to exercise chain flattening in tests.
   */
  readonly lowerdirBudget?: number;
}

/**
 * overlayfs snapshots. Each snapshot owns `<root>/<id>/fs` (the upper dir while active, a lower dir
 * once committed) and, while active with a parent, `<root>/<id>/work`. An active snapshot without
 * parent is a writable bind of `fs`; a committed snapshot and a view are read-only overlays of the
 * chain (a bind when the chain has one layer). Commit and prepare are O(1): nothing is copied.
 *
 * Chains longer than mount(2)'s one-page option string are handled by flattening an ancestor
 * (see overlay-chain.ts): with the default root `/var/lib/kiln/snapshots` about 120 layers fit
 * before the first flattened copy is made, and the copy is made once per `grid` layers after that.
 */
export class OverlaySnapshotter extends DirSnapshotter {
  readonly driver = 'overlayfs' as const;
  readonly #budget: number;
  readonly #grid: number;
  readonly #flattening = new Map<number, Promise<void>>();

  constructor(options: OverlaySnapshotterOptions) {
    super(options, 'overlayfs');
    if (/[,:\s]/.test(options.root)) {
      throw new SnapshotterArgumentError({
        what: 'overlay snapshotter root',
        reason: `${JSON.stringify(options.root)} contains a comma, colon or space, which overlay mount options cannot carry`,
      });
    }
    // upperdir= and workdir= of the longest id, plus the fixed options.
    const entry = options.root.length + 12;
    const others = `lowerdir=,upperdir=${options.root}/zzzzzz/fs,workdir=${options.root}/zzzzzz/work,${overlayFeatureOptions.join(',')}`;
    this.#budget = options.lowerdirBudget ?? mountOptionLimit - others.length - 64;
    this.#grid = Math.max(1, Math.min(64, Math.floor(this.#budget / (2 * entry))));
  }

  #workOf(row: Pick<SnapshotRow, 'id'>): string {
    return join(this.dirOf(row), 'work');
  }

  #flatOf(row: Pick<SnapshotRow, 'id'>): string {
    return join(this.dirOf(row), 'flat');
  }

  #parent(row: SnapshotRow): SnapshotRow | undefined {
    return row.parentId === null ? undefined : this.meta.byId(row.parentId);
  }

  protected override async populate(row: SnapshotRow, parent: SnapshotRow | undefined): Promise<void> {
    if (row.kind === 'active' && parent) await mkdir(this.#workOf(row));
  }

  protected override async mountsFor(row: SnapshotRow, signal?: AbortSignal): Promise<Mount[]> {
    const parent = this.#parent(row);
    if (row.kind === 'active') {
      if (!parent) return [bindMount(this.fsOf(row), false)];
      const lowers = await this.#lowers(parent, false, signal);
      return [overlayMount(lowers, { upper: this.fsOf(row), work: this.#workOf(row) })];
    }
    const top = row.kind === 'committed' ? row : parent;
    if (!top) return [bindMount(this.fsOf(row), true)];
    return [this.#readOnly(await this.#lowers(top, false, signal))];
  }

  #readOnly(lowers: readonly string[]): Mount {
    return lowers.length === 1 ? bindMount(lowers[0] as string, true) : overlayMount(lowers);
  }

  protected override async layerFor(row: SnapshotRow): Promise<WritableLayer> {
    const parent = this.#parent(row);
    if (!parent) return { dir: this.fsOf(row), lowers: [], whiteouts: 'delete' };
    return { dir: this.fsOf(row), lowers: await this.#lowers(parent, false), whiteouts: 'overlay' };
  }

  protected override changesFor(row: SnapshotRow): ChangeSource {
    return { kind: 'upper', dir: this.fsOf(row) };
  }

  protected override async committed(row: SnapshotRow): Promise<void> {
    await rm(this.#workOf(row), { recursive: true, force: true });
  }

  /** Lower dirs showing `top`'s chain, flattening an ancestor first when the chain is too long. */
  async #lowers(top: SnapshotRow, excludeTop: boolean, signal?: AbortSignal): Promise<string[]> {
    for (;;) {
      const plan = planLowers(this.meta.chain(top), {
        budget: this.#budget,
        grid: this.#grid,
        excludeTop,
        fsDir: (link) => this.fsOf(link),
        flatDir: (link) => this.#flatOf(link),
      });
      if ('dirs' in plan) return plan.dirs;
      await this.#flatten(plan.flatten, signal);
    }
  }

  /**
   * Materialises the merged view of `link`'s chain in `<id>/flat`, once (concurrent callers share
   * the copy). A committed chain never changes, so the copy stays valid until the snapshot is removed.
   */
  #flatten(link: ChainLink, signal?: AbortSignal): Promise<void> {
    let pending = this.#flattening.get(link.id);
    if (!pending) {
      pending = this.#copyMerged(link, signal).finally(() => this.#flattening.delete(link.id));
      this.#flattening.set(link.id, pending);
    }
    return pending;
  }

  async #copyMerged(link: ChainLink, signal?: AbortSignal): Promise<void> {
    const row = this.meta.byId(link.id);
    if (!row || row.flat) return;
    const lowers = await this.#lowers(row, true, signal);
    const tmp = `${this.#flatOf(row)}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    this.logger?.info({ key: row.key, depth: row.depth }, 'flattening a long overlay chain');
    await this.withTempMount(
      [this.#readOnly(lowers)],
      async (merged) => {
        const r = await runTool('cp', ['-a', '--reflink=auto', `${merged}/.`, `${tmp}/`], signal);
        if (!r.ok) throw new MountError({ op: 'copy', target: tmp, output: r.output, cause: r.cause });
      },
      { signal },
    );
    await rename(tmp, this.#flatOf(row));
    this.meta.setFlat(row.id);
  }
}
