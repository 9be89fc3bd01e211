import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from './snapshotter.js';

/**
 * Disk space (allocated blocks × 512, like du) and inodes under `dir`, each inode counted once
 * however many hardlinks point at it. Stats one directory's entries concurrently; honours `signal`
 * between directories. A missing `dir` uses nothing.
 */
export async function diskUsage(dir: string, options: { signal?: AbortSignal } = {}): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = async (path: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const st = await lstat(path);
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += st.blocks * 512;
    }
    if (!st.isDirectory()) return;
    const names = await readdir(path);
    await Promise.all(names.map((name) => visit(join(path, name))));
  };
  try {
    await visit(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && seen.size === 0) return { size: 0, inodes: 0 };
    throw error;
  }
  return { size, inodes: seen.size };
}
