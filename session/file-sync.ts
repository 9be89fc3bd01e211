import type { Logger } from 'pino';
import { FileSync } from '../proto/gen/moby/filesync/v1/filesync_pb.js';
import { FileSyncProtocolError, SessionCanceledError } from './errors.js';
import type { FileStat } from './fs-stat.js';
import { methodPath, type Session } from './session.js';
import { Receiver, probeUmask } from './tree-receiver.js';
import { decodePacket, encodePacket } from './wire-codec.js';

/** A received entry: its STAT and, for regular files (and hardlinks to them), the content digest. */
export interface ReceivedEntry {
  stat: FileStat;
  /** `sha256:<hex>` of the file content. */
  digest?: string;
}

export interface ReceiveProgress {
  /** File content bytes received so far. */
  bytes: number;
  /** Files requested so far, and how many of them are complete. */
  requested: number;
  completed: number;
}

export interface ReceiveDirectoryOptions {
  /** The client's local directory name (`context`, `dockerfile`, …). */
  dirName: string;
  includePatterns?: readonly string[];
  excludePatterns?: readonly string[];
  followPaths?: readonly string[];
  /** `metadata` (default) reuses unchanged files of `previous`; `none` requests everything. */
  differ?: 'metadata' | 'none';
  /** An existing, empty directory to fill. */
  dest: string;
  /** An earlier transfer of the same source: its tree (never modified) and its records. */
  previous?: { dir: string; entries: ReadonlyMap<string, ReceivedEntry> };
  signal?: AbortSignal;
  onProgress?: (progress: ReceiveProgress) => void;
  logger?: Logger;
}

export interface ReceiveDirectoryResult {
  /** Every entry in the order the client sent it. */
  entries: Map<string, ReceivedEntry>;
  /** Files whose content was requested (the rest were reused from `previous`). */
  requested: number;
  /** File content bytes received. */
  bytes: number;
  /**
   * The tree equals `previous`, entry for entry (paths, metadata, xattrs): its regular files were
   * then not linked into `dest`, which holds only directories, symlinks and special files. Use
   * `previous.dir` instead, and discard `dest`.
   */
  unchanged: boolean;
}

/**
 * Pulls a client's local directory with FileSync.DiffCopy (the fsutil protocol) into `dest`.
 *
 * Cost: proportional to the bytes requested; unchanged files of `previous` are hardlinked, never
 * copied (committed snapshot files are never modified in place, so sharing inodes is safe), and
 * not even linked when nothing at all changed (`unchanged`).
 * Content digests are computed while files are written. Symlinks are created as links and
 * nothing is ever written through one: every path is checked (clean, relative, parent a
 * directory received earlier) and files are created with O_EXCL|O_NOFOLLOW.
 *
 * Throws MethodNotSupportedError, SessionCallError (e.g. not-found for an unknown dirName),
 * SessionEndedError, FileSyncProtocolError, FileSyncRemoteError, FileSyncWriteError,
 * SessionCanceledError.
 */
export async function receiveDirectory(
  session: Session,
  options: ReceiveDirectoryOptions,
): Promise<ReceiveDirectoryResult> {
  const metadata: Record<string, string | readonly string[]> = { 'dir-name': options.dirName };
  if (options.includePatterns?.length) metadata['include-patterns'] = options.includePatterns;
  if (options.excludePatterns?.length) metadata['exclude-patterns'] = options.excludePatterns;
  if (options.followPaths?.length) metadata['followpaths'] = options.followPaths;
  options.signal?.throwIfAborted();
  const receiver = new Receiver(options, await probeUmask(options.dest));
  const call = session.open(methodPath(FileSync.method.diffCopy), {
    metadata,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  receiver.attach(
    (packet) => call.send(encodePacket(packet)),
    () => call.end(),
    () => call.cancel(),
  );
  try {
    for await (const message of call) {
      receiver.throwIfFailed();
      await receiver.onPacket(decodePacket(message));
    }
    receiver.throwIfFailed();
    if (!receiver.complete) {
      throw new FileSyncProtocolError({
        message: `DiffCopy of ${options.dirName} ended before every requested file arrived`,
      });
    }
    return await receiver.finish();
  } catch (err) {
    call.cancel();
    receiver.abort(err instanceof Error ? err : new Error(String(err)));
    await receiver.settle();
    if (options.signal?.aborted)
      throw new SessionCanceledError({ operation: `receiving ${options.dirName}`, cause: err });
    throw receiver.failure ?? err;
  }
}
