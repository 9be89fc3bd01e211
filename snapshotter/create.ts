import { setAttribute } from '@napi-rs/xattr';
import type { Database } from 'better-sqlite3';
import { lstat, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OverlayUnsupportedError } from './errors.js';
import { mountAll, unmountAll } from './mounting.js';
import { NativeSnapshotter } from './native.js';
import { overlayMount } from './overlay-chain.js';
import { OverlaySnapshotter } from './overlay.js';
import type { LocalSnapshotter } from './snapshotter.js';

export type SnapshotterKind = 'auto' | 'overlayfs' | 'native';

export interface CreateSnapshotterOptions {
  /** `auto` uses overlayfs when a probe mount works under `root`, else native. */
  readonly kind: SnapshotterKind;
  readonly root: string;
  readonly db: Database;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

/**
 * Mounts a two-layer overlay inside `root` (so on the filesystem snapshots will use), deletes a
 * lower file through it and checks a whiteout device appeared in the upper dir and that trusted
 * xattrs can be set there. Throws the reason when overlayfs is unusable. Costs two mount calls.
 */
export async function probeOverlay(root: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await mkdir(root, { recursive: true });
  const dir = await mkdtemp(join(root, 'overlay-probe-'));
  const merged = join(dir, 'merged');
  try {
    const [lower1, lower2, upper, work] = ['l1', 'l2', 'upper', 'work'].map((d) => join(dir, d)) as [
      string,
      string,
      string,
      string,
    ];
    for (const d of [lower1, lower2, upper, work, merged]) await mkdir(d);
    await writeFile(join(lower1, 'a'), 'a');
    await writeFile(join(lower2, 'b'), 'b');
    await setAttribute(upper, 'trusted.kiln.probe', Buffer.from([0xff]));
    await mountAll([overlayMount([lower2, lower1], { upper, work })], merged, options);
    try {
      await unlink(join(merged, 'a'));
      await writeFile(join(merged, 'c'), 'c');
    } finally {
      await unmountAll(merged);
    }
    const whiteout = await lstat(join(upper, 'a'));
    if (!whiteout.isCharacterDevice() || whiteout.rdev !== 0) {
      throw new Error('deleting a lower file did not leave a 0/0 character device in the upper dir');
    }
  } finally {
    await unmountAll(merged);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The snapshotter the daemon's `--snapshotter` setting asks for. `overlayfs` throws
 * OverlayUnsupportedError when the probe fails; `auto` then falls back to native (logged).
 */
export async function createSnapshotter(options: CreateSnapshotterOptions): Promise<LocalSnapshotter> {
  const { kind, root, db, logger } = options;
  if (kind === 'native') return new NativeSnapshotter({ root, db, logger });
  try {
    await probeOverlay(root, options);
  } catch (error) {
    options.signal?.throwIfAborted();
    if (kind === 'overlayfs') throw new OverlayUnsupportedError({ root, cause: error });
    logger?.warn({ err: error, root }, 'overlayfs is not usable here; using the native snapshotter');
    return new NativeSnapshotter({ root, db, logger });
  }
  return new OverlaySnapshotter({ root, db, logger });
}
