import { getAttribute, listAttributes, setAttribute } from '@napi-rs/xattr';
import { lstatSync, lutimesSync, unlinkSync, type Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LayerApplyError, UnsafeLayerPathError } from './errors.js';
import type { WritableLayer } from './snapshotter.js';

/** A directory as seen through the layers: its path and which lower dirs merge into it. */
export interface DirNode {
  readonly rel: string;
  readonly parent: DirNode | undefined;
  /** Indexes into `lowers` whose directory at `rel` is part of the merged view (topmost first). */
  lowers: number[];
  /** Whether `rel` already exists as a real directory in the writable dir. */
  inUpper: boolean;
  readonly children: Map<string, DirNode>;
}

/** Where a name is visible: in the writable dir (`upper`) or the lower at that index. */
export interface Visible {
  readonly where: 'upper' | number;
  readonly st: Stats;
}

export const opaqueXattr = 'trusted.overlay.opaque';

/** overlayfs's own attributes (`trusted.overlay.*`): only kiln decides what overlayfs sees. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.');
}
/** Resolving more symlinks than Linux's own limit for one path means a loop. */
const maxSymlinks = 40;

/**
 * Synchronous on purpose, like the other per-entry metadata calls of layer apply: the syscall takes
 * microseconds, a round trip through the libuv pool far longer on a loaded machine, and an apply
 * makes several in sequence for every entry (a busybox layer: ~1,100 of them).
 */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Splits a path into components, dropping empty and `.` ones; `..` is kept for the walker. */
export function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Cleans a layer entry name lexically (leading `/` and `./` ignored, `a/../b` folded). A name
 * that climbs above the root is refused: a layer has no business naming such a path.
 */
export function cleanEntryName(name: string, entry = name): string[] {
  const out: string[] = [];
  for (const c of components(name)) {
    if (c !== '..') out.push(c);
    else if (out.pop() === undefined) {
      const what = name === entry ? 'it climbs' : `its target ${JSON.stringify(name)} climbs`;
      throw new UnsafeLayerPathError({ entry, reason: `${what} above the root with ..` });
    }
  }
  return out;
}

/**
 * The filesystem a layer is applied to: a writable directory over optional read-only lowers, with
 * overlay semantics (char device 0/0 hides a name, `trusted.overlay.opaque=y` hides lower
 * directories). Every path is walked one component at a time inside the root: symlinks in parent
 * positions are followed with the root as `/` (absolute targets and `..` can never leave it), and
 * the last component is never followed. Directory lookups are cached for the length of one apply.
 */
export class LayerFs {
  readonly upper: string;
  readonly lowers: readonly string[];
  readonly overlay: boolean;
  readonly root: DirNode;
  /** Directories whose times must be restored once everything below them is written. */
  readonly dirTimes = new Map<string, { atime: Date | number; mtime: Date | number }>();

  constructor(layer: WritableLayer) {
    this.upper = layer.dir;
    this.lowers = layer.lowers;
    this.overlay = layer.whiteouts === 'overlay';
    this.root = {
      rel: '',
      parent: undefined,
      lowers: layer.lowers.map((_, i) => i),
      inUpper: true,
      children: new Map(),
    };
  }

  upperPath(dir: DirNode, name?: string): string {
    return name === undefined ? join(this.upper, dir.rel) : join(this.upper, dir.rel, name);
  }

  layerPath(where: 'upper' | number, dir: DirNode, name: string): string {
    return join(where === 'upper' ? this.upper : (this.lowers[where] as string), dir.rel, name);
  }

  isWhiteout(st: Stats): boolean {
    return this.overlay && st.isCharacterDevice() && st.rdev === 0;
  }

  async #opaque(path: string): Promise<boolean> {
    if (!this.overlay) return false;
    const value = await getAttribute(path, opaqueXattr).catch(() => null);
    return value !== null && value.toString() === 'y';
  }

  /** What `name` in `dir` is in the merged view; undefined when absent or whited out. */
  async lookup(
    dir: DirNode,
    name: string,
    options: { lowersOnly?: boolean } = {},
  ): Promise<Visible | undefined> {
    if (dir.inUpper && !options.lowersOnly) {
      const st = lstatOrUndefined(this.upperPath(dir, name));
      if (st) return this.isWhiteout(st) ? undefined : { where: 'upper', st };
    }
    for (const i of dir.lowers) {
      const st = lstatOrUndefined(this.layerPath(i, dir, name));
      if (st) return this.isWhiteout(st) ? undefined : { where: i, st };
    }
    return undefined;
  }

  /** The node of an existing directory `name` in `dir` (from the cache when possible). */
  async child(dir: DirNode, name: string, visible: Visible): Promise<DirNode> {
    const cached = dir.children.get(name);
    if (cached) return cached;
    const node: DirNode = {
      rel: join(dir.rel, name),
      parent: dir,
      lowers: [],
      inUpper: visible.where === 'upper',
      children: new Map(),
    };
    if (!(node.inUpper && (await this.#opaque(this.upperPath(node))))) {
      const first = visible.where === 'upper' ? 0 : dir.lowers.indexOf(visible.where);
      for (const i of dir.lowers.slice(first)) {
        const st = lstatOrUndefined(this.layerPath(i, dir, name));
        if (!st) continue;
        if (!st.isDirectory()) break;
        node.lowers.push(i);
        if (await this.#opaque(this.layerPath(i, dir, name))) break;
      }
    }
    dir.children.set(name, node);
    return node;
  }

  /** Forgets what is cached below `dir/name` (it is about to change). */
  forget(dir: DirNode, name: string): void {
    dir.children.delete(name);
  }

  /** Makes `dir` a real directory in the writable dir, copying a lower directory's attributes up. */
  async ensureUpper(dir: DirNode): Promise<void> {
    if (dir.inUpper) return;
    const parent = dir.parent as DirNode;
    await this.ensureUpper(parent);
    const path = this.upperPath(dir);
    const from = dir.lowers[0];
    if (from === undefined) {
      await mkdir(path, { mode: 0o755 });
    } else {
      const source = join(this.lowers[from] as string, dir.rel);
      const st = await lstat(source);
      await mkdir(path);
      await chown(path, st.uid, st.gid);
      await chmod(path, st.mode & 0o7777);
      for (const name of await listAttributes(source)) {
        if (isOverlayXattr(name)) continue;
        const value = await getAttribute(source, name);
        if (value) await setAttribute(path, name, value);
      }
      this.dirTimes.set(path, { atime: st.atime, mtime: st.mtime });
    }
    dir.inUpper = true;
  }

  /**
   * Walks `parts` (all but the last component) from the root and returns the directory that holds
   * the last one. Missing directories are created (0755, or hiding a whiteout as an opaque
   * directory); symlinks are followed inside the root.
   */
  async parentOf(parts: readonly string[], entry: string): Promise<{ dir: DirNode; base: string }>;
  async parentOf(
    parts: readonly string[],
    entry: string,
    options: { create: false },
  ): Promise<{ dir: DirNode; base: string } | undefined>;
  async parentOf(
    parts: readonly string[],
    entry: string,
    options: { create: boolean } = { create: true },
  ): Promise<{ dir: DirNode; base: string } | undefined> {
    const pending = [...parts];
    let dir = this.root;
    let hops = 0;
    while (pending.length > 1) {
      const name = pending.shift() as string;
      if (name === '..') {
        dir = dir.parent ?? this.root;
        continue;
      }
      const known = dir.children.get(name);
      if (known) {
        dir = known; // a directory already resolved during this apply
        continue;
      }
      const visible = await this.lookup(dir, name);
      if (!visible) {
        if (!options.create) return undefined;
        dir = await this.mkdirHiding(dir, name);
        continue;
      }
      if (visible.st.isSymbolicLink()) {
        if (++hops > maxSymlinks)
          throw new UnsafeLayerPathError({ entry, reason: 'too many levels of symbolic links' });
        const target = await readlink(this.layerPath(visible.where, dir, name));
        if (target.startsWith('/')) dir = this.root;
        pending.unshift(...components(target));
        continue;
      }
      if (!visible.st.isDirectory()) {
        if (!options.create) return undefined;
        throw new LayerApplyError({ entry, cause: new Error(`${join(dir.rel, name)} is not a directory`) });
      }
      dir = await this.child(dir, name, visible);
    }
    return { dir, base: pending[0] as string };
  }

  /** Creates directory `name` in `dir`, where nothing is visible; over a whiteout it becomes opaque. */
  async mkdirHiding(dir: DirNode, name: string): Promise<DirNode> {
    await this.ensureUpper(dir);
    const path = this.upperPath(dir, name);
    const existing = lstatOrUndefined(path);
    if (existing) await rm(path, { recursive: true, force: true });
    await mkdir(path, { mode: 0o755 });
    if (existing && this.overlay) await setAttribute(path, opaqueXattr, 'y');
    const node: DirNode = {
      rel: join(dir.rel, name),
      parent: dir,
      lowers: [],
      inUpper: true,
      children: new Map(),
    };
    dir.children.set(name, node);
    return node;
  }

  /** Removes whatever the writable dir holds at `dir/name` (a tree, a file or a whiteout). */
  async clear(dir: DirNode, name: string): Promise<Stats | undefined> {
    this.forget(dir, name);
    if (!dir.inUpper) return undefined;
    const path = this.upperPath(dir, name);
    const st = lstatOrUndefined(path);
    if (!st) return undefined;
    if (st.isDirectory()) await rm(path, { recursive: true, force: true });
    else unlinkSync(path);
    return st;
  }

  /** Sets directory times last, deepest first, once nothing more is written below them. */
  async restoreDirTimes(): Promise<void> {
    const paths = [...this.dirTimes.keys()].sort((a, b) => b.length - a.length);
    for (const path of paths) {
      const t = this.dirTimes.get(path) as { atime: Date | number; mtime: Date | number };
      lutimesSync(path, t.atime, t.mtime);
    }
  }
}
