import { promises as fsp, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { GoMode, compareNames, type FileStat } from './fs-stat.js';

/** Go FileMode bits for what lstat reports. */
export function goModeOf(st: BigIntStats): number {
  let mode = Number(st.mode & 0o777n);
  if (st.mode & 0o4000n) mode |= GoMode.setuid;
  if (st.mode & 0o2000n) mode |= GoMode.setgid;
  if (st.mode & 0o1000n) mode |= GoMode.sticky;
  if (st.isDirectory()) mode |= GoMode.dir;
  else if (st.isSymbolicLink()) mode |= GoMode.symlink;
  else if (st.isFIFO()) mode |= GoMode.namedPipe;
  else if (st.isCharacterDevice()) mode |= GoMode.device | GoMode.charDevice;
  else if (st.isBlockDevice()) mode |= GoMode.device;
  // Sockets are dropped to a plain mode, as fsutil senders do.
  return mode >>> 0;
}

/**
 * Lists a directory tree in fsutil order (Go filepath.Walk: names byte-sorted, a directory before
 * its contents), without following symlinks. A file whose inode was already listed becomes a
 * hardlink (linkname = first path, size 0). `prefix` roots every path under that directory.
 */
export async function walkTree(root: string, prefix = ''): Promise<{ stat: FileStat; source: string }[]> {
  const out: { stat: FileStat; source: string }[] = [];
  const inodes = new Map<bigint, string>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    const names = (await fsp.readdir(dir)).sort(compareNames);
    const stats = await Promise.all(names.map((name) => fsp.lstat(join(dir, name), { bigint: true })));
    const links = await Promise.all(
      names.map((name, i) =>
        (stats[i] as BigIntStats).isSymbolicLink() ? fsp.readlink(join(dir, name)) : Promise.resolve(''),
      ),
    );
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const st = stats[i] as BigIntStats;
      const source = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const stat: FileStat = {
        path,
        mode: goModeOf(st),
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: st.isDirectory() ? 0 : Number(st.size),
        modTime: st.mtimeNs,
        linkname: links[i] as string,
        devmajor: 0,
        devminor: 0,
        xattrs: {},
      };
      if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = Number(st.rdev);
        stat.devmajor = (rdev >> 8) & 0xfff;
        stat.devminor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
      }
      if (st.isFile() && st.nlink > 1n) {
        const first = inodes.get(st.ino);
        if (first !== undefined) {
          stat.linkname = first;
          stat.size = 0;
        } else inodes.set(st.ino, path);
      }
      out.push({ stat, source });
      if (st.isDirectory()) await visit(source, path);
    }
  };
  await visit(root, prefix);
  return out;
}
