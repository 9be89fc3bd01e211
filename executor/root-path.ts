import { chmod, chown, lstat, mkdir, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidProcessError } from './errors.js';

const maxSymlinks = 255;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Resolves `path` as the container would see it inside `root` and returns the host path: every
 * symlink is followed with `root` as `/`, and `..` never climbs above it, so the result is always
 * inside `root`. Components that do not exist are appended as they are. Costs one lstat per
 * component (plus one readlink per symlink); throws InvalidProcessError on a symlink loop.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const done: string[] = [];
  let pending = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (pending.length > 0) {
    const [part, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch (err) {
      if (!isMissing(err)) throw err;
      // Nothing below a missing component can be a symlink: finish lexically, still inside root.
      const tail = [...done, part];
      for (const c of rest) {
        if (c === '..') tail.pop();
        else tail.push(c);
      }
      return join(root, ...tail);
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > maxSymlinks) {
      throw new InvalidProcessError({
        field: 'path',
        reason: `too many symlinks resolving ${path} in ${root}`,
      });
    }
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
  }
  return join(root, ...done);
}

/**
 * Creates `path` (a host path inside `stopAt`, as resolveInRoot returns it) and its missing
 * parents with mode 0755, each owned by `owner`, as a working directory is created for a step.
 */
export async function mkdirOwned(
  path: string,
  stopAt: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  const missing: string[] = [];
  for (let p = path; p.length > stopAt.length; p = dirname(p)) {
    try {
      await lstat(p);
      break;
    } catch {
      missing.unshift(p);
    }
  }
  for (const p of missing) {
    await mkdir(p);
    await chown(p, owner.uid, owner.gid);
    await chmod(p, 0o755); // exact, whatever the daemon's umask
  }
}
