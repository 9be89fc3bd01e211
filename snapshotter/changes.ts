import { getAttribute, listAttributes } from '@napi-rs/xattr';
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isOverlayXattr } from './layer-fs.js';
import type { ChangeSource } from './snapshotter.js';

/**
 * One line of a snapshot's change list, in the order the layer tar carries it: `entry` is a file,
 * directory, link or device to include as it is at `path`; `whiteout` says `name`'s target was
 * deleted; `opaque` says the directory holding `name` hides everything below it from lower layers.
 */
export type Change =
  | { readonly kind: 'entry'; readonly name: string; readonly path: string; readonly st: Stats }
  | { readonly kind: 'whiteout' | 'opaque'; readonly name: string };

const opaqueMarker = '.wh..wh..opq';

/** Extended attributes worth carrying in a layer, sorted by name (overlayfs' own are never copied). */
export async function readXattrs(path: string): Promise<Map<string, Buffer>> {
  const names = (await listAttributes(path)).filter((n) => !isOverlayXattr(n)).sort();
  const out = new Map<string, Buffer>();
  for (const name of names) {
    const value = await getAttribute(path, name);
    if (value) out.set(name, value);
  }
  return out;
}

async function children(dir: string): Promise<Map<string, Stats>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return new Map();
    throw error;
  }
  const stats = await Promise.all(names.map((n) => lstat(join(dir, n))));
  return new Map(names.map((n, i) => [n, stats[i] as Stats]));
}

const byKey = <T extends { key: string }>(a: T, b: T): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const childName = (rel: string, name: string): string => (rel === '' ? name : `${rel}/${name}`);

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

async function isOpaque(path: string): Promise<boolean> {
  return (await getAttribute(path, 'trusted.overlay.opaque').catch(() => null))?.toString() === 'y';
}

/**
 * Lists what a committed snapshot changed, depth first with each directory's entries sorted by
 * their tar name, so the same change always lists the same way. Honours `signal` per directory.
 */
export function listChanges(
  source: ChangeSource,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Change> {
  return source.kind === 'upper'
    ? walkUpper(source.dir, '', options.signal)
    : walkCompare(source.dir, source.parentDir, '', options.signal);
}

async function* walkUpper(dir: string, rel: string, signal?: AbortSignal): AsyncGenerator<Change> {
  signal?.throwIfAborted();
  const items = [...(await children(dir))].map(([name, st]) => ({
    key: isWhiteout(st) ? `.wh.${name}` : name,
    name,
    st,
  }));
  for (const { key, name, st } of items.sort(byKey)) {
    const path = join(dir, name);
    const tarName = childName(rel, key);
    if (isWhiteout(st)) {
      yield { kind: 'whiteout', name: tarName };
      continue;
    }
    yield { kind: 'entry', name: tarName, path, st };
    if (!st.isDirectory()) continue;
    if (await isOpaque(path)) yield { kind: 'opaque', name: childName(tarName, opaqueMarker) };
    yield* walkUpper(path, tarName, signal);
  }
}

/** Whether `a` (in the snapshot) differs from `b` (in its parent) as a layer would record it. */
async function differs(a: Stats, b: Stats, pathA: string, pathB: string): Promise<boolean> {
  if ((a.mode & 0o170000) !== (b.mode & 0o170000) || a.mode !== b.mode) return true;
  if (a.uid !== b.uid || a.gid !== b.gid || a.mtimeMs !== b.mtimeMs) return true;
  if (!a.isDirectory() && (a.size !== b.size || a.nlink !== b.nlink || a.rdev !== b.rdev)) return true;
  if (a.isSymbolicLink() && (await readlink(pathA)) !== (await readlink(pathB))) return true;
  const [xa, xb] = await Promise.all([readXattrs(pathA), readXattrs(pathB)]);
  if (xa.size !== xb.size) return true;
  for (const [name, value] of xa) {
    if (!xb.get(name)?.equals(value)) return true;
  }
  return false;
}

/**
 * Compares two full trees (native snapshots). A file counts as changed when its type, mode,
 * owner, size, mtime, link count, device, link target or xattrs differ; contents are not read,
 * because copies keep nanosecond mtimes and any write moves them.
 */
async function* walkCompare(
  dir: string,
  parentDir: string | undefined,
  rel: string,
  signal?: AbortSignal,
): AsyncGenerator<Change> {
  signal?.throwIfAborted();
  const [mine, theirs] = await Promise.all([
    children(dir),
    parentDir ? children(parentDir) : new Map<string, Stats>(),
  ]);
  const items = [
    ...[...mine.keys()].map((name) => ({ key: name, name, deleted: false })),
    ...[...theirs.keys()]
      .filter((n) => !mine.has(n))
      .map((name) => ({ key: `.wh.${name}`, name, deleted: true })),
  ].sort(byKey);
  for (const { key, name, deleted } of items) {
    const tarName = childName(rel, key);
    if (deleted) {
      yield { kind: 'whiteout', name: tarName };
      continue;
    }
    const st = mine.get(name) as Stats;
    const old = theirs.get(name);
    const path = join(dir, name);
    const oldPath = parentDir === undefined ? undefined : join(parentDir, name);
    const bothDirs = old !== undefined && st.isDirectory() && old.isDirectory();
    if (!old || !oldPath || (await differs(st, old, path, oldPath)))
      yield { kind: 'entry', name: tarName, path, st };
    if (st.isDirectory()) yield* walkCompare(path, bothDirs ? oldPath : undefined, tarName, signal);
  }
}
