import { join } from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { FileSyncWriteError } from './errors.js';
import type { FileStat } from './fs-stat.js';

/**
 * Applies the extended attributes of received entries under `dest`, each on the entry itself
 * (lsetxattr: a symbolic link gets its own, its target is never touched). A name the file system
 * refuses fails the transfer with the path and the name. Cost: nothing when no entry carries xattrs.
 */
export function applyXattrs(dest: string, entries: Iterable<{ stat: FileStat }>): void {
  for (const { stat } of entries) {
    for (const [name, value] of Object.entries(stat.xattrs)) {
      const target = join(dest, stat.path);
      try {
        setAttributeSync(target, name, value);
      } catch (err) {
        throw new FileSyncWriteError({ path: target, operation: `setting xattr ${name} on`, cause: err });
      }
    }
  }
}
