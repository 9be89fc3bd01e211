import type { Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { listAttributes, getAttribute } from '@napi-rs/xattr';
import { isOverlayXattr } from '../snapshotter/index.js';

/** The kind of a filesystem entry, as checksums see it. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** The metadata of one entry that checksums cover (never its times). */
export interface EntryInfo {
  readonly type: EntryType;
  /** Permission bits plus setuid/setgid/sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly xattrs: ReadonlyMap<string, Uint8Array>;
}

/**
 * A read-only view of a file tree addressed by clean relative paths (`''` is the root). Paths are
 * never resolved through symlinks by the source itself.
 */
export interface TreeSource {
  info(path: string): Promise<EntryInfo | undefined>;
  /** Names in a directory, in any order. */
  list(path: string): Promise<string[]>;
  /** sha256 of a regular file's content, `sha256:<hex>`. */
  contentDigest(path: string): Promise<string>;
}

function typeOf(s: Stats): EntryType {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isCharacterDevice()) return 'char';
  if (s.isBlockDevice()) return 'block';
  if (s.isFIFO()) return 'fifo';
  return 'socket';
}

const absentCodes = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ERR_INVALID_ARG_VALUE']);

/** A tree on disk (a mounted snapshot). */
export class DiskTree implements TreeSource {
  constructor(readonly root: string) {}

  async info(path: string): Promise<EntryInfo | undefined> {
    const full = join(this.root, path);
    let s;
    try {
      s = await lstat(full);
    } catch (err) {
      // Names no tree can hold (too long, a NUL byte) are absent, as a missing one is.
      if (absentCodes.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
    const type = typeOf(s);
    const xattrs = new Map<string, Uint8Array>();
    for (const name of (await listAttributes(full).catch(() => [])).sort()) {
      // overlayfs bookkeeping and security labels say nothing about content.
      if (isOverlayXattr(name) || name === 'security.selinux') continue;
      const value = await getAttribute(full, name).catch(() => null);
      if (value) xattrs.set(name, value);
    }
    return {
      type,
      mode: s.mode & 0o7777,
      uid: s.uid,
      gid: s.gid,
      size: type === 'file' ? s.size : 0,
      linkname: type === 'symlink' ? await readlink(full) : '',
      devmajor: type === 'char' || type === 'block' ? Math.floor(s.rdev / 256) : 0,
      devminor: type === 'char' || type === 'block' ? s.rdev % 256 : 0,
      xattrs,
    };
  }

  list(path: string): Promise<string[]> {
    return readdir(join(this.root, path));
  }

  async contentDigest(path: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(join(this.root, path))) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}`;
  }
}

/** A tree known from records (a received context), read without touching the disk. */
export class RecordTree implements TreeSource {
  readonly #entries: ReadonlyMap<string, EntryInfo & { digest?: string }>;
  readonly #children = new Map<string, string[]>();

  constructor(entries: ReadonlyMap<string, EntryInfo & { digest?: string }>) {
    this.#entries = entries;
    for (const path of entries.keys()) {
      const slash = path.lastIndexOf('/');
      const parent = slash < 0 ? '' : path.slice(0, slash);
      let list = this.#children.get(parent);
      if (!list) this.#children.set(parent, (list = []));
      list.push(path.slice(slash + 1));
    }
  }

  async info(path: string): Promise<EntryInfo | undefined> {
    if (path === '') return rootDirInfo;
    return this.#entries.get(path);
  }

  async list(path: string): Promise<string[]> {
    return this.#children.get(path) ?? [];
  }

  async contentDigest(path: string): Promise<string> {
    const digest = this.#entries.get(path)?.digest;
    if (!digest) throw new Error(`no content digest recorded for ${path}`);
    return digest;
  }
}

const rootDirInfo: EntryInfo = {
  type: 'dir',
  mode: 0o755,
  uid: 0,
  gid: 0,
  size: 0,
  linkname: '',
  devmajor: 0,
  devminor: 0,
  xattrs: new Map(),
};
