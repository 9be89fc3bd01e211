/**
 * Test support for the snapshotter's own tests (not exported from index.ts): crafted tars, tree
 * listings that compare everything a layer carries, and fresh snapshotters of both kinds.
 */
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type LocalSnapshotter,
  NativeSnapshotter,
  OverlaySnapshotter,
  tarHeader,
  type TarHeaderInput,
  tarPadding,
  tarTrailer,
} from './index.js';

export const drivers: ReadonlyArray<{
  name: 'overlayfs' | 'native';
  make(root: string, db: Database.Database): LocalSnapshotter;
}> = [
  { name: 'overlayfs', make: (root, db) => new OverlaySnapshotter({ root, db }) },
  { name: 'native', make: (root, db) => new NativeSnapshotter({ root, db }) },
];

export function openDb(dir: string): Database.Database {
  const db = new Database(join(dir, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  return db;
}

/** A tar built member by member; `data` fills regular files. */
export function craftTar(
  entries: ReadonlyArray<Partial<TarHeaderInput> & { name: string; data?: Buffer | string }>,
): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(
      tarHeader({
        type: 'file',
        mode: e.type === 'dir' ? 0o755 : 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        ...e,
        size: data.length,
      }),
      data,
      tarPadding(data.length),
    );
  }
  parts.push(tarTrailer);
  return Buffer.concat(parts);
}

export async function* chunks(data: Buffer, size = 7_000): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/**
 * Everything a layer must carry about each path below `dir`, one line per path: type, mode,
 * owner, size, content digest, link target, device, xattrs (hex) and, when asked, mtime seconds.
 * Files sharing an inode are marked with the first path of their group.
 */
export async function listTree(
  dir: string,
  options: { mtimes?: boolean; skip?: (rel: string) => boolean } = {},
): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = join(dir, rel, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      if (options.skip?.(r)) continue;
      const st = await lstat(path);
      const xattrs = (await listAttributes(path))
        .filter((n) => !n.startsWith('trusted.overlay.'))
        .sort()
        .map(async (n) => `${n}=${(await getAttribute(path, n))?.toString('hex')}`);
      let detail = '';
      if (st.isFile())
        detail = createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
          .slice(0, 16);
      if (st.isSymbolicLink()) detail = `-> ${await readlink(path)}`;
      if (st.isCharacterDevice() || st.isBlockDevice()) detail = `dev ${st.rdev}`;
      let link = '';
      if (!st.isDirectory() && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first) link = ` link=${first}`;
        else inodes.set(st.ino, r);
      }
      const mtime = options.mtimes && !st.isSymbolicLink() ? ` mtime=${Math.floor(st.mtimeMs / 1000)}` : '';
      lines.push(
        `${r} mode=${st.mode.toString(8)} ${st.uid}:${st.gid} size=${st.isFile() ? st.size : 0} ${detail}${link}${mtime} ${(await Promise.all(xattrs)).join(',')}`.trim(),
      );
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('');
  return lines;
}
