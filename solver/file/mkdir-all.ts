import { chmod, lchown, lstat, lutimes, mkdir } from 'node:fs/promises';
import { FileSystemError, FileTypeConflictError } from './errors.js';
import type { Owner } from './owner.js';

/** What directories created on the way get (existing ones are left alone). */
export interface MkdirOptions {
  /** Permission bits (the process umask does not apply, as BuildKit runs with umask 0). */
  readonly mode: number;
  readonly owner: Owner | undefined;
  /** Seconds since the epoch for atime and mtime; undefined leaves them at creation time. */
  readonly time: number | undefined;
}

/**
 * BuildKit's MkdirAll inside a root: creates every missing directory from `root` down to `host`
 * (which must lie under `root` and hold no symbolic links, as resolveInRoot returns it), each with
 * `mode`, `owner` and `time`. Returns whether `host` itself was created. Throws
 * FileTypeConflictError when a component exists and is not a directory (a symbolic link included:
 * it is never followed here).
 */
export async function mkdirAll(root: string, host: string, options: MkdirOptions): Promise<boolean> {
  if (host === root) return false;
  const rel = host.slice(root.length + 1).split('/');
  let path = root;
  let created = false;
  for (const name of rel) {
    path = `${path}/${name}`;
    const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new FileSystemError({ operation: 'stat', path: show(root, path), cause: err });
    });
    if (st?.isDirectory()) {
      created = false;
      continue;
    }
    if (st !== undefined) throw new FileTypeConflictError({ path: show(root, path), expected: 'directory' });
    await makeDir(root, path, options);
    created = true;
  }
  return created;
}

/** Creates one directory whose parent exists, with the mode, owner and time of `options`. */
export async function makeDir(root: string, path: string, options: MkdirOptions): Promise<void> {
  try {
    await mkdir(path, options.mode);
    await chmod(path, options.mode);
    if (options.owner !== undefined) await lchown(path, options.owner.uid, options.owner.gid);
    if (options.time !== undefined) await lutimes(path, options.time, options.time);
  } catch (err) {
    throw new FileSystemError({ operation: 'create directory', path: show(root, path), cause: err });
  }
}

function show(root: string, path: string): string {
  return path === root ? '/' : path.slice(root.length);
}
