import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { tarHeader, tarPadding, tarTrailer } from '../snapshotter/index.js';

type Entry = { name: string; host: string };

/** Byte-order names (what tar listings of Go tools produce), directories before their contents. */
async function* walk(root: string, prefix: string): AsyncGenerator<Entry> {
  const names = (await readdir(join(root, prefix))).sort((a, b) =>
    Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  for (const name of names) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const host = join(root, rel);
    yield { name: rel, host };
    if ((await lstat(host)).isDirectory()) yield* walk(root, rel);
  }
}

async function xattrsOf(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of (await listAttributes(path).catch(() => [])).sort()) {
    if (name.startsWith('trusted.overlay.')) continue;
    const value = await getAttribute(path, name).catch(() => null);
    if (value) out.set(name, value);
  }
  return out;
}

export interface TreeTarOptions {
  /** Roots every name under this directory (one per platform). */
  readonly prefix?: string;
  /** Every member's mtime, in seconds (SOURCE_DATE_EPOCH); default the files' own. */
  readonly mtime?: number;
}

/**
 * The members of the tree under `root` (no end-of-archive trailer, so trees can follow each
 * other in one archive): regular files, directories, symlinks, hardlinks (within the tree),
 * devices and fifos, with modes, owners, mtimes and xattrs.
 */
export async function* treeMembers(root: string, options: TreeTarOptions = {}): AsyncGenerator<Buffer> {
  const prefix = options.prefix ? `${options.prefix}/` : '';
  if (options.prefix) {
    yield tarHeader({
      name: options.prefix,
      type: 'dir',
      mode: 0o755,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: options.mtime ?? 0,
    });
  }
  const inodes = new Map<string, string>();
  for await (const entry of walk(root, '')) {
    const s = await lstat(entry.host);
    const name = `${prefix}${entry.name}`;
    const base = {
      name,
      mode: s.mode,
      uid: s.uid,
      gid: s.gid,
      mtime: options.mtime ?? Math.floor(s.mtimeMs / 1000),
      xattrs: await xattrsOf(entry.host),
    };
    if (s.isFile() && s.nlink > 1) {
      const id = `${s.dev}:${s.ino}`;
      const first = inodes.get(id);
      if (first) {
        yield tarHeader({ ...base, type: 'link', size: 0, linkname: first });
        continue;
      }
      inodes.set(id, name);
    }
    if (s.isFile()) {
      yield tarHeader({ ...base, type: 'file', size: s.size });
      for await (const chunk of createReadStream(entry.host)) yield chunk as Buffer;
      yield tarPadding(s.size);
    } else if (s.isDirectory()) {
      yield tarHeader({ ...base, type: 'dir', size: 0 });
    } else if (s.isSymbolicLink()) {
      yield tarHeader({ ...base, type: 'symlink', size: 0, linkname: await readlink(entry.host) });
    } else if (s.isCharacterDevice() || s.isBlockDevice()) {
      yield tarHeader({
        ...base,
        type: s.isCharacterDevice() ? 'char' : 'block',
        size: 0,
        devmajor: Math.floor(s.rdev / 256),
        devminor: s.rdev % 256,
      });
    } else if (s.isFIFO()) {
      yield tarHeader({ ...base, type: 'fifo', size: 0 });
    }
  }
}

/** The whole tree under `root` as one tar stream (`--output type=tar`). */
export function treeTar(root: string, options: TreeTarOptions = {}): Readable {
  return Readable.from(
    (async function* () {
      yield* treeMembers(root, options);
      yield tarTrailer;
    })(),
  );
}
