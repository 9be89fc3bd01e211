// Test-only helpers: build a tree with every entry kind, and describe a tree for comparison.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/**
 * Builds a tree with files of several modes, nested and empty directories, a symlink to /etc, a
 * symlink loop, a dangling symlink and a hardlink pair. Returns its root (inside `parent`).
 */
export async function makeTree(parent: string): Promise<string> {
  const root = join(parent, 'tree');
  await fsp.mkdir(join(root, 'sub/deeper'), { recursive: true });
  await fsp.mkdir(join(root, 'empty'));
  await fsp.mkdir(join(root, 'private'), { mode: 0o700 });
  await fsp.writeFile(join(root, 'hello.txt'), 'hello\n');
  await fsp.writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fsp.writeFile(join(root, 'secret.key'), 'k', { mode: 0o600 });
  await fsp.writeFile(join(root, 'sub/a.txt'), 'a\n');
  await fsp.writeFile(join(root, 'sub/deeper/big.bin'), Buffer.alloc(200_000, 7));
  await fsp.writeFile(join(root, 'sub/empty-file'), '');
  await fsp.writeFile(join(root, 'private/p.txt'), 'p');
  await fsp.chmod(join(root, 'private'), 0o700);
  await fsp.symlink('/etc', join(root, 'etc-link'));
  await fsp.symlink('loop', join(root, 'loop'));
  await fsp.symlink('missing/target', join(root, 'dangling'));
  await fsp.symlink('sub/a.txt', join(root, 'a-link'));
  await fsp.link(join(root, 'hello.txt'), join(root, 'sub/hello-hardlink.txt'));
  return root;
}

export interface EntryDescription {
  type: 'dir' | 'file' | 'symlink' | 'other';
  perm: number;
  size: number;
  sha256?: string;
  link?: string;
  /** Another path of the tree sharing this inode (the first seen), for hardlinks. */
  hardlinkOf?: string;
}

/** Describes every entry under `root` (not following symlinks), keyed by relative path. */
export async function describeTree(root: string): Promise<Map<string, EntryDescription>> {
  const out = new Map<string, EntryDescription>();
  const inodes = new Map<number, string>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(abs);
      const entry: EntryDescription = {
        type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other',
        perm: st.mode & 0o7777,
        size: st.isDirectory() ? 0 : st.size,
      };
      if (st.isSymbolicLink()) {
        entry.link = await fsp.readlink(abs);
        delete (entry as { perm?: number }).perm;
      }
      if (st.isFile()) {
        entry.sha256 = createHash('sha256')
          .update(await fsp.readFile(abs))
          .digest('hex');
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first) entry.hardlinkOf = first;
          else inodes.set(st.ino, path);
        }
      }
      out.set(path, entry);
      if (st.isDirectory()) await visit(abs, path);
    }
  };
  await visit(root, '');
  return out;
}
