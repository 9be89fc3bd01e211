import type { Stats } from 'node:fs';
import { chmodSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import type { FileActionCopy } from '../../proto/gen/pb/ops_pb.js';
import { copyXattrs } from './file-info.js';
import { TreeIo } from './tree-io.js';
import { hasWildcards } from './wildcard.js';

/**
 * Readies the empty upper directory of an overlay snapshot for `copy` written into it directly,
 * without mounting the overlay, and says whether that gives the tree a copy through the mounted
 * overlay would. It does when, in `lower` (the merged tree below), every directory above the
 * destination is a real directory or absent and the destination itself is absent or an empty
 * real directory: nothing the copy looks at or replaces then lives only below. Those that exist
 * are made in `upper` with their owner, mode, xattrs and times, as overlayfs's copy-up makes them.
 * Returns false, having written nothing, otherwise (a link on the way, a non-empty destination),
 * and for a wildcard source, which may match nothing and must then leave the layer empty.
 */
export function prepareUpperForCopy(lower: string, upper: string, copy: FileActionCopy): boolean {
  if (copy.allowWildcard && hasWildcards(copy.src)) return false;
  const target = posix.normalize(`/${copy.dest}`).replace(/\/\.?$/, '');
  if (target === '' || target === '/') return false;
  const io = new TreeIo([lower, upper]);
  const existing: { path: string; st: Stats }[] = [];
  const parts = target.split('/').slice(1);
  for (let i = 1; i <= parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    const st = io.lstat(`${lower}${path}`);
    if (st === undefined) break;
    if (!st.isDirectory()) return false;
    if (i === parts.length && readdirSync(`${lower}${path}`).length > 0) return false;
    existing.push({ path, st });
  }
  const root = lstatSync(upper);
  for (const { path, st } of existing) {
    const dir = `${upper}${path}`;
    mkdirSync(dir);
    lchownSync(dir, st.uid, st.gid);
    // After the chown, which clears setgid.
    chmodSync(dir, st.mode & 0o7777);
    copyXattrs(`${lower}${path}`, dir);
  }
  // Copy-up keeps the parents' times; only what the copy then creates updates them.
  for (const { path, st } of [{ path: '', st: root }, ...existing]) {
    lutimesSync(`${upper}${path}`, st.atimeMs / 1000, st.mtimeMs / 1000);
  }
  return true;
}
