import { lstat, readdir, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { resolveInRoot } from './root-path.js';

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Host paths in `rootfs` that the runtime will create as mount points for `dests` because they do
 * not exist yet: the destination itself, and with `recursive` also each missing parent up to the
 * first one that exists. Listed innermost first, the order they can be removed in. Costs a few
 * lstat calls per destination; call it before the container starts.
 */
export async function findMountStubs(
  rootfs: string,
  dests: readonly string[],
  recursive: boolean,
): Promise<string[]> {
  const stubs: string[] = [];
  for (const dest of dests) {
    if (dest.split('/').every((c) => c === '' || c === '.')) continue;
    let path = await resolveInRoot(rootfs, dest);
    while (path.length > rootfs.length && !(await exists(path))) {
      stubs.push(path);
      if (!recursive) break;
      path = dirname(path);
    }
  }
  return stubs;
}

/**
 * Removes the stubs found by findMountStubs once the container is gone, so they never end up in a
 * snapshot: only empty directories and empty files are removed (a step may have put content there
 * on purpose), and the parent's timestamps are put back for reproducible layers. Never throws.
 */
export async function removeMountStubs(stubs: readonly string[], logger?: Logger): Promise<void> {
  for (const path of stubs) {
    try {
      const st = await lstat(path);
      if (st.isDirectory() ? (await readdir(path)).length > 0 : st.size !== 0) continue;
      const parent = dirname(path);
      const pst = await stat(parent, { bigint: true });
      await (st.isDirectory() ? rmdir(path) : unlink(path));
      await utimes(parent, Number(pst.atimeNs) / 1e9, Number(pst.mtimeNs) / 1e9);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') logger?.warn({ err, path }, 'could not remove mount stub');
    }
  }
}
