import { lchown, lutimes, symlink } from 'node:fs/promises';
import type { FileActionSymlink } from '../../proto/gen/pb/ops_pb.js';
import {
  FilePathNotFoundError,
  FileSystemError,
  FileTypeConflictError,
  InvalidFileActionError,
} from './errors.js';
import type { Owner } from './owner.js';
import { resolveInRoot } from './root-path.js';
import { nsToSeconds } from './timestamp.js';

/**
 * FileActionSymlink (later BuildKit; not in v0.11.6): creates a link at `newpath` (resolved in the root, links
 * followed inside it) whose target is `oldpath`, stored verbatim; an existing entry there fails with
 * FileTypeConflictError. Owner and time apply to the link itself.
 */
export async function symlinkAction(
  root: string,
  action: FileActionSymlink,
  owner: Owner | undefined,
): Promise<void> {
  if (action.newpath === '')
    throw new InvalidFileActionError({ action: 'symlink', reason: 'newpath is empty' });
  const target = await resolveInRoot(root, action.newpath);
  try {
    await symlink(action.oldpath, target.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new FileTypeConflictError({ path: target.path, expected: 'absent', cause: err });
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const parent = target.path.slice(0, target.path.lastIndexOf('/')) || '/';
      throw new FilePathNotFoundError({ path: parent, tree: 'destination', what: 'directory', cause: err });
    }
    throw new FileSystemError({ operation: 'create link', path: target.path, cause: err });
  }
  try {
    if (owner !== undefined) await lchown(target.host, owner.uid, owner.gid);
    const time = nsToSeconds(action.timestamp);
    if (time !== undefined) await lutimes(target.host, time, time);
  } catch (err) {
    throw new FileSystemError({ operation: 'set metadata of', path: target.path, cause: err });
  }
}
