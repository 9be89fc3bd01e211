import { posix } from 'node:path';
import type { Stat } from '../proto/gen/fsutil/types/stat_pb.js';
import { FileSyncProtocolError } from './errors.js';

/** Go `os.FileMode` type and permission bits, as fsutil carries them in `Stat.mode`. */
export const GoMode = {
  dir: 0x80000000,
  symlink: 1 << 27,
  device: 1 << 26,
  namedPipe: 1 << 25,
  socket: 1 << 24,
  setuid: 1 << 23,
  setgid: 1 << 22,
  charDevice: 1 << 21,
  sticky: 1 << 20,
  irregular: 1 << 19,
  /** Every bit that makes an entry something other than a regular file. */
  type: 0x8f280000,
} as const;

/**
 * One entry of a transferred tree, as the sender described it. `mode` holds Go FileMode bits;
 * `modTime` is Unix time in nanoseconds; `linkname` is a symlink's target or, on a regular file,
 * the earlier path it is a hardlink to.
 */
export interface FileStat {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  modTime: bigint;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Uint8Array>;
}

export function isDir(mode: number): boolean {
  return (mode & GoMode.dir) !== 0;
}

export function isSymlink(mode: number): boolean {
  return (mode & GoMode.symlink) !== 0;
}

/** Whether a STAT with this mode may be requested (carries data): no Go type bit set. */
export function isRequestable(mode: number): boolean {
  return ((mode >>> 0) & GoMode.type) === 0;
}

/** POSIX permission bits (with setuid/setgid/sticky) for chmod, from Go FileMode bits. */
export function posixPermissions(mode: number): number {
  let perm = mode & 0o777;
  if (mode & GoMode.setuid) perm |= 0o4000;
  if (mode & GoMode.setgid) perm |= 0o2000;
  if (mode & GoMode.sticky) perm |= 0o1000;
  return perm;
}

export function fromProtoStat(stat: Stat): FileStat {
  return {
    path: stat.path,
    mode: stat.mode >>> 0,
    uid: stat.uid,
    gid: stat.gid,
    size: Number(stat.size),
    modTime: stat.modTime,
    linkname: stat.linkname,
    devmajor: Number(stat.devmajor),
    devminor: Number(stat.devminor),
    xattrs: { ...stat.xattrs },
  };
}

/** Byte-wise (UTF-8) comparison, the order Go sorts names in. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Checks the fsutil ordering rules for a stream of STATs: clean relative paths, no escape,
 * parents before children, names strictly increasing in byte order within each directory and a
 * directory's contents before its next sibling.
 */
export class StatOrderValidator {
  private readonly stack: { dir: string; last: string }[] = [{ dir: '', last: '' }];

  /** Throws FileSyncProtocolError when `path` breaks the rules. */
  check(path: string, dir: boolean): void {
    validatePath(path);
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    while (this.stack.length > 1 && (this.stack[this.stack.length - 1] as { dir: string }).dir !== parent)
      this.stack.pop();
    const top = this.stack[this.stack.length - 1] as { dir: string; last: string };
    if (top.dir !== parent) {
      throw new FileSyncProtocolError({
        message: `${path}: parent directory ${parent} was not sent before it`,
        path,
      });
    }
    if (top.last !== '' && compareNames(top.last, base) >= 0) {
      throw new FileSyncProtocolError({
        message: `changes out of order: ${path} after ${parent ? `${parent}/` : ''}${top.last}`,
        path,
      });
    }
    top.last = base;
    if (dir) this.stack.push({ dir: path, last: '' });
  }
}

/** Throws unless `path` is clean, relative, non-empty and stays inside the tree. */
export function validatePath(path: string): void {
  const bad =
    path === '' ||
    path === '.' ||
    path.startsWith('/') ||
    path.includes('\0') ||
    posix.normalize(path) !== path ||
    path.endsWith('/') ||
    path === '..' ||
    path.startsWith('../');
  if (bad)
    throw new FileSyncProtocolError({
      message: `invalid path ${JSON.stringify(path)}: must be clean, relative and inside the tree`,
      path,
    });
}
