import { lstat, readFile } from 'node:fs/promises';
import type { UserDatabase } from './owner.js';
import { resolveInRoot } from './root-path.js';

/**
 * Reads `/etc/passwd` and `/etc/group` of a tree (host path of a mounted input), resolving them
 * inside it so a hostile link cannot make this read a host file. A missing file is undefined.
 * What a UserLookup returns for the input it is asked about.
 */
export async function readUserDatabase(root: string): Promise<UserDatabase> {
  const [passwd, group] = await Promise.all([
    readInRoot(root, '/etc/passwd'),
    readInRoot(root, '/etc/group'),
  ]);
  return { ...(passwd === undefined ? {} : { passwd }), ...(group === undefined ? {} : { group }) };
}

const maxSize = 64 * 1024 * 1024;

async function readInRoot(root: string, path: string): Promise<string | undefined> {
  const target = await resolveInRoot(root, path);
  try {
    // Only a regular file: a fifo planted there would block the read forever.
    const st = await lstat(target.host);
    if (!st.isFile() || st.size > maxSize) return undefined;
    return await readFile(target.host, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}
