import type { BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { StatSchema, type Stat } from '../../proto/gen/fsutil/types/stat_pb.js';
import { ClientTransferError } from './errors.js';

/** Go `os.FileMode` bits as fsutil carries them. */
export const GoMode = {
  dir: 0x80000000,
  symlink: 1 << 27,
  device: 1 << 26,
  namedPipe: 1 << 25,
  setuid: 1 << 23,
  setgid: 1 << 22,
  charDevice: 1 << 21,
  sticky: 1 << 20,
  type: 0x8f280000,
} as const;

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
  return mode >>> 0;
}

export function isRequestable(mode: number): boolean {
  return ((mode >>> 0) & GoMode.type) === 0;
}

export function posixPermissions(mode: number): number {
  let perm = mode & 0o777;
  if (mode & GoMode.setuid) perm |= 0o4000;
  if (mode & GoMode.setgid) perm |= 0o2000;
  if (mode & GoMode.sticky) perm |= 0o1000;
  return perm;
}

/** The fsutil STAT of an lstat result; uid/gid are reset to 0 as buildctl does. */
export function statOf(path: string, st: BigIntStats, linkname: string): Stat {
  const stat = create(StatSchema, {
    path,
    mode: goModeOf(st),
    modTime: st.mtimeNs,
    size: st.isDirectory() ? 0n : st.size,
    linkname,
  });
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = Number(st.rdev);
    stat.devmajor = BigInt((rdev >> 8) & 0xfff);
    stat.devminor = BigInt((rdev & 0xff) | ((rdev >> 12) & 0xfff00));
  }
  return stat;
}

export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** fsutil's ordering rules for incoming STATs (clean relative paths, parents first, sorted). */
export class StatOrderValidator {
  private readonly stack: { dir: string; last: string }[] = [{ dir: '', last: '' }];

  check(path: string, dir: boolean): void {
    const bad =
      path === '' ||
      path.startsWith('/') ||
      path.includes('\0') ||
      posix.normalize(path) !== path ||
      path.endsWith('/') ||
      path === '..' ||
      path.startsWith('../');
    if (bad)
      throw new ClientTransferError({
        message: `invalid path ${JSON.stringify(path)}: must be clean, relative and inside the tree`,
        path,
      });
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    while (this.stack.length > 1 && this.top().dir !== parent) this.stack.pop();
    const top = this.top();
    if (top.dir !== parent)
      throw new ClientTransferError({
        message: `${path}: parent directory ${parent} was not sent before it`,
        path,
      });
    if (top.last !== '' && compareNames(top.last, base) >= 0)
      throw new ClientTransferError({ message: `changes out of order: ${path}`, path });
    top.last = base;
    if (dir) this.stack.push({ dir: path, last: '' });
  }

  private top(): { dir: string; last: string } {
    return this.stack[this.stack.length - 1] as { dir: string; last: string };
  }
}
