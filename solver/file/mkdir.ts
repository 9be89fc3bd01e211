import { chmod, lchown, lutimes, mkdir } from 'node:fs/promises';
import type { FileActionMkDir } from '../../proto/gen/pb/ops_pb.js';
import { FilePathNotFoundError, FileSystemError } from './errors.js';
import { mkdirAll } from './mkdir-all.js';
import type { Owner } from './owner.js';
import { resolveInRoot } from './root-path.js';
import { nsToSeconds } from './timestamp.js';

/**
 * FileActionMkDir as BuildKit runs it: the path is resolved in the root (links followed inside
 * it). With `makeParents` every missing directory is created with the action's mode, owner and
 * time and an existing directory is left alone (an existing non-directory fails). Without it only
 * the last element is created and anything already there, even a file, counts as done; a missing
 * parent fails with FilePathNotFoundError.
 */
export async function mkdirAction(
  root: string,
  action: FileActionMkDir,
  owner: Owner | undefined,
): Promise<void> {
  const target = await resolveInRoot(root, action.path);
  const options = { mode: action.mode & 0o777, owner, time: nsToSeconds(action.timestamp) };
  if (action.makeParents) {
    await mkdirAll(root, target.host, options);
    return;
  }
  try {
    await mkdir(target.host, options.mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new FilePathNotFoundError({
        path: parentOf(target.path),
        tree: 'destination',
        what: 'directory',
        cause: err,
      });
    }
    throw new FileSystemError({ operation: 'create directory', path: target.path, cause: err });
  }
  try {
    await chmod(target.host, options.mode);
    if (owner !== undefined) await lchown(target.host, owner.uid, owner.gid);
    if (options.time !== undefined) await lutimes(target.host, options.time, options.time);
  } catch (err) {
    throw new FileSystemError({ operation: 'set metadata of', path: target.path, cause: err });
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}
