import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setAttributeSync } from '@napi-rs/xattr';
import type { Logger } from 'pino';
import { type Header, extract } from 'tar-stream';
import { type ArchiveCompression, decompressFile, detectCompression, readHead } from './decompress.js';
import { ArchiveError, FileActionCanceledError } from './errors.js';
import { mkdirAll } from './mkdir-all.js';
import type { Owner } from './owner.js';
import { resolveInRoot } from './root-path.js';
import { makeSpecial } from './special-files.js';

export interface UnpackRequest {
  /** The writable tree and the source tree (host paths). */
  readonly root: string;
  readonly source: string;
  /** The source path in the source tree (followed fully, as BuildKit does for archives). */
  readonly src: string;
  /** The destination directory in the writable tree (created if missing). */
  readonly dest: string;
  /** Applied to every entry when set (BuildKit ≥ v0.12; v0.11.6 kept the archive's owners). */
  readonly owner: Owner | undefined;
  /** For the destination directories created on the way. */
  readonly time: number | undefined;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/**
 * ADD's archive handling: when `src` is a regular file that decompresses (gzip, bzip2, xz, zstd
 * or none, by magic bytes) to something starting with a valid tar header, extracts it into `dest`
 * with Docker's rules and returns true; otherwise returns false and the caller copies the file.
 * Extraction acts as if chrooted at `dest`: entry names, link targets and symbolic links met on the
 * way all resolve inside it. An existing entry is replaced unless both are directories (merged);
 * whiteouts are not applied; owners come from the archive unless `owner` is set; directory times
 * are set last. Throws ArchiveError for a corrupt archive.
 */
export async function tryUnpack(req: UnpackRequest): Promise<boolean> {
  const src = await resolveInRoot(req.source, req.src);
  const compression = await archiveCompression(src.host, req.signal);
  if (compression === undefined) return false;
  const dest = await resolveInRoot(req.root, req.dest);
  await mkdirAll(req.root, dest.host, { mode: 0o755, owner: req.owner, time: req.time });
  const stream = decompressFile(src.host, compression, req.signal);
  try {
    await extractInto(stream, dest.host, req, src.path);
  } catch (err) {
    if (req.signal?.aborted) throw new FileActionCanceledError({ cause: req.signal.reason });
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError({ archive: src.path, reason: (err as Error).message, cause: err });
  } finally {
    stream.destroy();
  }
  return true;
}

/** The compression of `path` when it is an archive Docker would unpack, else undefined. */
async function archiveCompression(
  path: string,
  signal?: AbortSignal,
): Promise<ArchiveCompression | undefined> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return undefined;
    const compression = detectCompression(await readHead(path, 16));
    const head = await firstBytes(decompressFile(path, compression, signal), 1024);
    return looksLikeTar(head) ? compression : undefined;
  } catch {
    return undefined;
  }
}

async function firstBytes(stream: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= length) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, length);
}

/** Go's tar reader accepts a first header whose checksum (signed or unsigned) is right. */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  let block = head.subarray(0, 512);
  if (block.every((b) => b === 0)) {
    // A zero block followed by another one is an empty archive (io.EOF: not an archive).
    if (head.length < 1024) return false;
    block = head.subarray(512, 1024);
    if (block.every((b) => b === 0)) return false;
  }
  const field = block
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
  if (!/^[0-7]+$/.test(field)) return false;
  const want = Number.parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  return want === unsigned || want === signed;
}

async function extractInto(
  stream: Readable,
  dest: string,
  req: UnpackRequest,
  archive: string,
): Promise<void> {
  const tar = extract();
  const feeding = pipeline(stream, tar).catch((err: unknown) => {
    tar.destroy(err as Error);
  });
  const dirTimes: { path: string; mtime: number }[] = [];
  for await (const entry of tar) {
    if (req.signal?.aborted) throw new FileActionCanceledError({ cause: req.signal.reason });
    const header = entry.header;
    try {
      const made = await extractEntry(header, entry, dest, req);
      if (made !== undefined) dirTimes.push({ path: made, mtime: mtimeOf(header) });
    } catch (err) {
      if (err instanceof ArchiveError) throw err;
      throw new ArchiveError({ archive, entry: header.name, reason: (err as Error).message, cause: err });
    }
    entry.resume();
  }
  await feeding;
  for (const { path, mtime } of dirTimes) await lutimes(path, mtime, mtime);
}

/** Writes one entry; returns the host path of a directory (whose times are set at the end). */
async function extractEntry(
  header: Header,
  body: AsyncIterable<unknown>,
  dest: string,
  req: UnpackRequest,
): Promise<string | undefined> {
  const name = posix.normalize(`/${header.name}`);
  if (name === '/') return undefined;
  // Implied parents (entries without directory entries before them), resolved like a chroot would.
  const parent = await resolveInRoot(dest, posix.dirname(name));
  await mkdirAll(dest, parent.host, { mode: 0o755, owner: undefined, time: undefined });
  const path = (await resolveInRoot(dest, name, { followLast: false })).host;
  const isDir = header.type === 'directory';
  const existing = await lstat(path).catch(() => undefined);
  if (existing !== undefined && !(existing.isDirectory() && isDir))
    await rm(path, { recursive: true, force: true });
  const mode = header.mode & 0o7777;
  switch (header.type) {
    case 'directory':
      if (existing === undefined || !existing.isDirectory()) await mkdir(path, mode);
      break;
    case 'file':
    case 'contiguous-file': {
      const fh = await open(
        path,
        constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
        mode,
      );
      try {
        for await (const chunk of body) await fh.write(chunk as Buffer);
      } finally {
        await fh.close();
      }
      break;
    }
    case 'symlink':
      await symlink(header.linkname, path);
      break;
    case 'link': {
      const target = await resolveInRoot(dest, header.linkname, { followLast: false });
      await link(target.host, path);
      break;
    }
    case 'fifo':
    case 'character-device':
    case 'block-device':
      await makeSpecial(path, {
        type: header.type === 'fifo' ? 'fifo' : header.type === 'character-device' ? 'char' : 'block',
        major: header.devmajor,
        minor: header.devminor,
      });
      break;
    default:
      throw new Error(`unhandled tar entry type ${String(header.type)}`);
  }
  const uid = req.owner?.uid ?? paxNumber(header, 'uid') ?? header.uid;
  const gid = req.owner?.gid ?? paxNumber(header, 'gid') ?? header.gid;
  await lchown(path, uid, gid);
  setXattrs(path, header, req.logger);
  const linkedSymlink = header.type === 'link' && (await lstat(path)).isSymbolicLink();
  if (header.type !== 'symlink' && !linkedSymlink) await chmod(path, mode);
  const mtime = mtimeOf(header);
  if (!linkedSymlink) await lutimes(path, mtime, mtime);
  return isDir ? path : undefined;
}

function pax(header: Header): Record<string, string> {
  return (header.pax ?? {}) as Record<string, string>;
}

function paxNumber(header: Header, key: string): number | undefined {
  const v = pax(header)[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function mtimeOf(header: Header): number {
  return paxNumber(header, 'mtime') ?? header.mtime.getTime() / 1000;
}

function setXattrs(path: string, header: Header, logger?: Logger): void {
  for (const [key, value] of Object.entries(pax(header))) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    try {
      setAttributeSync(path, key.slice('SCHILY.xattr.'.length), value);
    } catch (err) {
      logger?.debug({ err, xattr: key }, 'cannot set extended attribute from archive');
    }
  }
}
