import type { Stats } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { type Change, listChanges, readXattrs } from './changes.js';
import type { ChangeSource } from './snapshotter.js';
import type { TarEntryType } from './tar-reader.js';
import { tarHeader, tarPadding, tarTrailer } from './tar-writer.js';

/** Entries prepared ahead of the one being written, so small files are read concurrently. */
const readAhead = 32;
/** Files up to this size are read whole while prepared ahead; larger ones are streamed in turn. */
const smallFile = 1 << 20;
const chunk = 1 << 20;

interface Prepared {
  readonly header: Buffer;
  readonly data?: Buffer;
  /** A large file streamed when its turn comes, with the size its header declared. */
  readonly stream?: { readonly path: string; readonly size: number };
}

function typeOf(st: Stats): TarEntryType {
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'file';
}

/** Linux's (glibc's) encoding of major and minor device numbers in st_rdev. */
function devParts(rdev: number): { devmajor: number; devminor: number } {
  const dev = BigInt(rdev);
  const major = ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n);
  const minor = (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n);
  return { devmajor: Number(major), devminor: Number(minor) };
}

async function readWhole(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const data = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(data, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    const extra = await fh.read(Buffer.alloc(1), 0, 1, size);
    if (off !== size || extra.bytesRead !== 0)
      throw new Error(`${path} changed size while it was read for a layer`);
    return data;
  } finally {
    await fh.close();
  }
}

async function* streamFile(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    let off = 0;
    while (off < size) {
      const buf = Buffer.allocUnsafe(Math.min(chunk, size - off));
      const { bytesRead } = await fh.read(buf, 0, buf.length, off);
      if (bytesRead === 0) throw new Error(`${path} shrank while it was read for a layer`);
      off += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function prepare(change: Change, hardlinkTo: string | undefined): Promise<Prepared> {
  if (change.kind !== 'entry') {
    return {
      header: tarHeader({ name: change.name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 }),
    };
  }
  const { st, path, name } = change;
  const type = hardlinkTo !== undefined ? 'link' : typeOf(st);
  const size = type === 'file' ? st.size : 0;
  const header = tarHeader({
    name,
    type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size,
    mtime: Math.floor(st.mtimeMs / 1000),
    linkname: type === 'link' ? hardlinkTo : type === 'symlink' ? await readlink(path) : undefined,
    ...(type === 'char' || type === 'block' ? devParts(st.rdev) : {}),
    xattrs: type === 'link' ? undefined : await readXattrs(path),
  });
  if (size === 0) return { header };
  if (size <= smallFile) return { header, data: await readWhole(path, size) };
  return { header, stream: { path, size } };
}

/**
 * The uncompressed layer tar of a snapshot's changes: entries depth first and sorted, headers
 * normalised (whole-second mtimes, no atime/ctime, no user or group names, PAX only where ustar
 * cannot hold a value), a file with several links in the change set written once and linked to
 * after. The same tree always yields the same bytes. Honours `signal`.
 */
export async function* layerTar(
  source: ChangeSource,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Buffer> {
  const firstNames = new Map<string, string>();
  const window: Promise<Prepared>[] = [];
  const emit = async function* (item: Prepared): AsyncGenerator<Buffer> {
    yield item.header;
    if (item.data) {
      yield item.data;
      yield tarPadding(item.data.length);
    } else if (item.stream) {
      yield* streamFile(item.stream.path, item.stream.size);
      yield tarPadding(item.stream.size);
    }
  };
  for await (const change of listChanges(source, options)) {
    let hardlinkTo: string | undefined;
    if (change.kind === 'entry' && !change.st.isDirectory() && change.st.nlink > 1) {
      const inode = `${change.st.dev}:${change.st.ino}`;
      hardlinkTo = firstNames.get(inode);
      if (hardlinkTo === undefined) firstNames.set(inode, change.name);
    }
    const p = prepare(change, hardlinkTo);
    p.catch(() => undefined); // awaited in order below
    window.push(p);
    if (window.length >= readAhead) yield* emit(await (window.shift() as Promise<Prepared>));
  }
  while (window.length > 0) yield* emit(await (window.shift() as Promise<Prepared>));
  yield tarTrailer;
}
