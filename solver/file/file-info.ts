import type { Stats } from 'node:fs';
import { chmodSync, lchownSync, lutimesSync } from 'node:fs';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import type { Logger } from 'pino';
import { isOverlayXattr } from '../../snapshotter/index.js';
import type { Owner } from './owner.js';

/**
 * How copied entries get their metadata: ownership and timestamps from the source unless
 * overridden, permission bits from the source unless `mode` maps them.
 *
 * The metadata calls are synchronous on purpose: each is one cheap syscall (a few µs), while a
 * round trip through libuv's four-thread pool costs more than the call; on a 5,000-file tree the
 * async version was about 1.5× slower. Callers yield to the event loop between files.
 */
export interface InfoPolicy {
  readonly owner: Owner | undefined;
  /** Maps source permission bits (07777) to the wanted ones; undefined keeps them. */
  readonly mode: ((mode: number, isDir: boolean) => number) | undefined;
  /** Seconds since the epoch for both atime and mtime; undefined keeps the source's. */
  readonly time: number | undefined;
}

const ownUid = process.getuid?.() ?? 0;
const ownGid = process.getegid?.() ?? 0;

/**
 * Sets owner, permissions and times of `target` from `st` (the source's lstat) under `policy`,
 * in BuildKit's order (chown, chmod, times), never following a symbolic link. `created` tells
 * the owner and mode the target already has, so calls that would change nothing are skipped.
 */
export function applyInfo(
  target: string,
  st: Stats,
  policy: InfoPolicy,
  created?: { uid: number; gid: number; mode: number },
): void {
  const uid = policy.owner?.uid ?? st.uid;
  const gid = policy.owner?.gid ?? st.gid;
  const perm = st.mode & 0o7777;
  const want = policy.mode === undefined ? perm : policy.mode(perm, st.isDirectory());
  const symlink = st.isSymbolicLink();
  let chowned = false;
  if (created === undefined || created.uid !== uid || created.gid !== gid) {
    lchownSync(target, uid, gid);
    chowned = true;
  }
  // chown clears setuid and setgid, so those need a chmod even when the bits did not change.
  if (!symlink && (created === undefined || created.mode !== want || (chowned && (want & 0o6000) !== 0))) {
    chmodSync(target, want);
  }
  const atime = policy.time ?? st.atimeMs / 1000;
  const mtime = policy.time ?? st.mtimeMs / 1000;
  lutimesSync(target, atime, mtime);
}

/** Sets only the times (BuildKit restores them on a top-level directory it merged into). */
export function applyTimes(target: string, st: Stats, policy: InfoPolicy): void {
  lutimesSync(target, policy.time ?? st.atimeMs / 1000, policy.time ?? st.mtimeMs / 1000);
}

/**
 * Copies the extended attributes of `src` onto `target`, both taken as links themselves, all but
 * overlayfs's own `trusted.overlay.*`. As in
 * BuildKit, failures (a filesystem without xattrs, a name the kernel refuses) are logged and
 * skipped: they never fail a copy.
 */
export function copyXattrs(src: string, target: string, logger?: Logger): void {
  let names: string[];
  try {
    names = listAttributesSync(src);
  } catch (err) {
    logger?.debug({ err, path: src }, 'cannot list extended attributes');
    return;
  }
  for (const name of names) {
    // A mounted overlay hides them; in an upper they would change how it merges.
    if (isOverlayXattr(name)) continue;
    try {
      const value = getAttributeSync(src, name);
      if (value !== null) setAttributeSync(target, name, value);
    } catch (err) {
      logger?.debug({ err, path: target, xattr: name }, 'cannot copy extended attribute');
    }
  }
}

/** The owner and mode a file, directory or link has right after this process created it in `dirSt`. */
export function creatorIds(dirSt: Stats, mode: number): { uid: number; gid: number; mode: number } {
  return { uid: ownUid, gid: (dirSt.mode & 0o2000) !== 0 ? dirSt.gid : ownGid, mode };
}
