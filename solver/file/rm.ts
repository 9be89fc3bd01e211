import { lstat, rm } from 'node:fs/promises';
import { posix } from 'node:path';
import type { FileActionRm } from '../../proto/gen/pb/ops_pb.js';
import { FilePathNotFoundError, FileSystemError, InvalidFileActionError } from './errors.js';
import { resolveInRoot, splitParent } from './root-path.js';
import { resolveWildcards } from './wildcard.js';

/**
 * FileActionRm: removes the path (recursively) with its parent resolved in the root and the last
 * element never followed, so removing a link removes the link, never what it points to, and
 * nothing outside the root is reachable. With `allowWildcard` the path may hold globs (each match
 * removed, none is fine). A missing path fails with FilePathNotFoundError unless `allowNotFound`
 * (later BuildKit; v0.11.6 ignored a missing path). `/` itself cannot be removed.
 */
export async function rmAction(root: string, action: FileActionRm): Promise<void> {
  const paths = action.allowWildcard ? await resolveWildcards(root, action.path, false) : [action.path];
  for (const path of paths) await rmPath(root, path, action.allowNotFound);
}

async function rmPath(root: string, path: string, allowNotFound: boolean): Promise<void> {
  const clean = posix.normalize(`/${path}`).replace(/(.)\/$/, '$1');
  if (clean === '/')
    throw new InvalidFileActionError({ action: 'rm', reason: 'cannot remove the root directory' });
  const { parent, base } = splitParent(clean);
  const dir = await resolveInRoot(root, parent);
  const host = `${dir.host}/${base}`;
  const shown = posix.join(dir.path, base);
  try {
    await lstat(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOENT' || code === 'ENOTDIR') && allowNotFound) return;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new FilePathNotFoundError({
        path: shown,
        tree: 'destination',
        what: 'path to remove',
        cause: err,
      });
    }
    throw new FileSystemError({ operation: 'stat', path: shown, cause: err });
  }
  try {
    await rm(host, { recursive: true, force: true });
  } catch (err) {
    throw new FileSystemError({ operation: 'remove', path: shown, cause: err });
  }
}
