import { constants } from 'node:fs';
import { type FileHandle, lutimes, open } from 'node:fs/promises';
import type { FileActionMkFile } from '../../proto/gen/pb/ops_pb.js';
import { FilePathNotFoundError, FileSystemError, FileTypeConflictError } from './errors.js';
import type { Owner } from './owner.js';
import { resolveInRoot } from './root-path.js';
import { nsToSeconds } from './timestamp.js';

/**
 * FileActionMkFile as BuildKit runs it (os.WriteFile): the path is resolved in the root, links
 * followed inside it, so writing through a link writes its target. A new file gets the action's
 * mode; an existing one is truncated and rewritten but keeps its mode (and its owner unless the
 * action sets one). A missing parent fails with FilePathNotFoundError, a directory in the way with
 * FileTypeConflictError.
 */
export async function mkfileAction(
  root: string,
  action: FileActionMkFile,
  owner: Owner | undefined,
): Promise<void> {
  const target = await resolveInRoot(root, action.path);
  const mode = action.mode & 0o777;
  const flags = constants.O_WRONLY | constants.O_NOFOLLOW;
  let fh: FileHandle;
  let created = true;
  try {
    fh = await open(target.host, flags | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    fh = await reopen(err, target, flags);
    created = false;
  }
  try {
    if (created) await fh.chmod(mode);
    await fh.writeFile(action.data);
    if (owner !== undefined) await fh.chown(owner.uid, owner.gid);
  } catch (err) {
    throw new FileSystemError({ operation: 'write', path: target.path, cause: err });
  } finally {
    await fh.close();
  }
  const time = nsToSeconds(action.timestamp);
  if (time !== undefined) await lutimes(target.host, time, time);
}

async function reopen(
  err: unknown,
  target: { host: string; path: string },
  flags: number,
): Promise<FileHandle> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    throw new FilePathNotFoundError({
      path: parentOf(target.path),
      tree: 'destination',
      what: 'directory',
      cause: err,
    });
  }
  if (code !== 'EEXIST') throw new FileSystemError({ operation: 'create', path: target.path, cause: err });
  try {
    return await open(target.host, flags | constants.O_TRUNC);
  } catch (err2) {
    if ((err2 as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new FileTypeConflictError({ path: target.path, expected: 'non-directory', cause: err2 });
    }
    throw new FileSystemError({ operation: 'open', path: target.path, cause: err2 });
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}
