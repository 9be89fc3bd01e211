import { lstat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { type ArchiveCompression, decompressFile, detectCompression, readHead } from './decompress.js';
import { ArchiveError, FileActionCanceledError } from './errors.js';
import { mkdirAll } from './mkdir-all.js';
import type { Owner } from './owner.js';
import { resolveInRoot } from './root-path.js';
import { extractTar } from './tar-extract.js';

export interface UnpackRequest {
  /** The writable tree and the source tree (host paths). */
  readonly root: string;
  readonly source: string;
  /** The source path in the source tree (followed fully, as BuildKit does for archives). */
  readonly src: string;
  /** The destination directory in the writable tree (created if missing). */
  readonly dest: string;
  /** Applied to every entry when set (as later BuildKit does; v0.11.6 kept the archive's owners). */
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
    await extractTar(stream, dest.host, src.path, {
      owner: req.owner,
      ...(req.signal === undefined ? {} : { signal: req.signal }),
      ...(req.logger === undefined ? {} : { logger: req.logger }),
    });
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
