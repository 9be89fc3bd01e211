import { join } from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import type { Logger } from 'pino';
import type { FileStat } from './fs-stat.js';

/** overlayfs's own attributes: set in a snapshot's directory, they would change how layers merge. */
const overlayPrefix = 'trusted.overlay.';

/**
 * Applies the extended attributes of received entries under `dest`, each on the entry itself
 * (lsetxattr: a symbolic link gets its own, its target is never touched), except overlayfs's own
 * `trusted.overlay.*` and the entries in `skip`. As BuildKit's receiver does, a name the file
 * system refuses (a macOS `com.apple.*`, `user.*` on a link, an SELinux label the host rejects)
 * is logged and skipped. Cost: nothing when no entry carries xattrs.
 */
export function applyXattrs(
  dest: string,
  entries: Iterable<{ stat: FileStat }>,
  skip: ReadonlySet<string>,
  logger?: Logger,
): void {
  for (const { stat } of entries) {
    if (skip.has(stat.path)) continue;
    for (const [name, value] of Object.entries(stat.xattrs)) {
      if (name.startsWith(overlayPrefix)) continue;
      try {
        setAttributeSync(join(dest, stat.path), name, value);
      } catch (err) {
        logger?.debug({ err, path: stat.path, xattr: name }, 'cannot set extended attribute; skipped');
      }
    }
  }
}
