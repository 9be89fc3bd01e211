import { createHash, hash, type Hash } from 'node:crypto';
import {
  close,
  closeSync,
  constants,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  futimes,
  futimesSync,
  open,
  openSync,
  write,
  writev,
  writevSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { FileSyncWriteError } from './errors.js';

// Plain descriptors: FileHandle objects cost noticeably more per small file.
const openFd = promisify(open);
const writeFd = promisify(write);
const writevFd = promisify(writev);
const futimesFd = promisify(futimes);
const fchmodFd = promisify(fchmod);
const fchownFd = promisify(fchown);
const closeFd = promisify(close);

const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/**
 * Files up to this size are held until complete and then written with synchronous calls: five
 * syscalls of microseconds each, where five trips through the libuv pool (each a thread hand-off,
 * and on a busy machine a context switch) cost far more. A 5,000-file context is mostly such files.
 */
const SMALL_FILE = 64 * 1024;
/**
 * A synchronous file write slower than this (ms) means the disk is throttling writers (journal
 * commits, writeback): from then on the transfer writes through the thread pool, so a stalled
 * file creation no longer holds up the event loop and with it the whole stream.
 */
const SYNC_STALL_MS = 10;

/** Shared by the writers of one transfer: whether synchronous writes have been seen to stall. */
export interface WritePace {
  stalled: boolean;
}

/** What a file needs once its bytes are written. */
export interface FileFinish {
  /** POSIX permission bits (with setuid/setgid/sticky). */
  perm: number;
  /** Whether the creation mode was cut by the umask, so an explicit chmod is needed. */
  chmod: boolean;
  /** uid/gid to set, or undefined when the file already belongs to them. */
  owner: { uid: number; gid: number } | undefined;
  /** Modification time, seconds since the epoch (fractional). */
  mtime: number;
}

/**
 * Writes one received file: chunks are hashed as they are written (the digest needs no second
 * pass) and written in order by a single async loop, several chunks per writev when they pile up.
 * The file is created exclusively and never through a symlink (O_EXCL | O_NOFOLLOW).
 */
export class FileWriter {
  /** Resolves to the `sha256:` digest of the content once the file is complete on disk. */
  readonly done: Promise<string>;
  /** Created for files written in pieces; a small file is hashed in one call. */
  private hash: Hash | undefined;
  private chunks: Uint8Array[] = [];
  private pending = 0;
  private ended = false;
  private running = false;
  private fd: number | undefined;
  private resolveDone!: (digest: string) => void;
  private rejectDone!: (err: Error) => void;
  private state: 'open' | 'closed' | 'failed' = 'open';

  constructor(
    private readonly target: string,
    private readonly parentReady: Promise<void>,
    private readonly finish: FileFinish,
    /** Called with the byte count each time queued bytes are flushed to disk. */
    private readonly onFlushed: (bytes: number) => void,
    private readonly pace: WritePace,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
  }

  write(data: Uint8Array): void {
    if (this.ended)
      throw new FileSyncWriteError({
        path: this.target,
        operation: 'writing',
        cause: new Error('data after end of file'),
      });
    this.chunks.push(data);
    this.pending += data.length;
    this.kick();
  }

  end(): void {
    this.ended = true;
    this.kick();
  }

  /** Gives up on the file (the transfer failed); `done` rejects with `reason`. */
  abort(reason: Error): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.chunks = [];
    if (!this.running) this.closeQuietly();
    this.rejectDone(reason);
  }

  private closeQuietly(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) close(fd, () => undefined);
  }

  private kick(): void {
    if (this.running || this.state !== 'open') return;
    // A file that may still turn out small waits for its end (see SMALL_FILE).
    if (this.fd === undefined && !this.ended && this.pending <= SMALL_FILE) return;
    this.running = true;
    this.run().then(
      () => {
        this.running = false;
        if (this.state === 'failed') this.closeQuietly();
        if (this.state === 'open' && (this.chunks.length > 0 || this.ended)) this.kick();
      },
      (err: unknown) => {
        this.running = false;
        this.state = 'failed';
        this.onFlushed(this.chunks.reduce((n, c) => n + c.length, 0));
        this.chunks = [];
        this.closeQuietly();
        this.rejectDone(new FileSyncWriteError({ path: this.target, operation: 'writing', cause: err }));
      },
    );
  }

  private async run(): Promise<void> {
    if (this.fd === undefined) {
      await this.parentReady;
      if (this.ended && this.pending <= SMALL_FILE && !this.pace.stalled) return this.writeWhole();
      this.fd = await openFd(this.target, OPEN_FLAGS, this.finish.perm & 0o777);
    }
    while (this.chunks.length > 0) {
      const batch = this.chunks;
      this.chunks = [];
      const total = batch.reduce((n, c) => n + c.length, 0);
      this.pending -= total;
      this.hash ??= createHash('sha256');
      for (const chunk of batch) this.hash.update(chunk);
      const { bytesWritten } =
        batch.length === 1 ? await writeFd(this.fd, batch[0] as Uint8Array) : await writevFd(this.fd, batch);
      if (bytesWritten !== total) throw new Error(`short write: ${bytesWritten} of ${total} bytes`);
      this.onFlushed(total);
    }
    if (!this.ended) return;
    const fd = this.fd;
    const { perm, chmod, owner, mtime } = this.finish;
    if (owner) await fchownFd(fd, owner.uid, owner.gid);
    // chown clears setuid/setgid, so the mode goes after it.
    if (chmod || owner) await fchmodFd(fd, perm);
    await futimesFd(fd, mtime, mtime);
    this.fd = undefined;
    await closeFd(fd);
    this.state = 'closed';
    this.resolveDone(`sha256:${(this.hash ?? createHash('sha256')).digest('hex')}`);
  }

  /** A small, complete file in one go, synchronously (same steps and order as `run`). */
  private writeWhole(): void {
    const started = performance.now();
    const total = this.pending;
    const fd = openSync(this.target, OPEN_FLAGS, this.finish.perm & 0o777);
    try {
      const written = this.chunks.length > 0 ? writevSync(fd, this.chunks) : 0;
      if (written !== total) throw new Error(`short write: ${written} of ${total} bytes`);
      const { perm, chmod, owner, mtime } = this.finish;
      if (owner) fchownSync(fd, owner.uid, owner.gid);
      if (chmod || owner) fchmodSync(fd, perm);
      futimesSync(fd, mtime, mtime);
    } finally {
      closeSync(fd);
      if (performance.now() - started > SYNC_STALL_MS) this.pace.stalled = true;
    }
    const digest = digestOf(this.chunks);
    this.chunks = [];
    this.pending = 0;
    this.onFlushed(total);
    this.state = 'closed';
    this.resolveDone(`sha256:${digest}`);
  }
}

/** The hex sha256 of the chunks together; one chunk (most small files) in a single call. */
function digestOf(chunks: readonly Uint8Array[]): string {
  if (chunks.length === 1) return hash('sha256', chunks[0] as Uint8Array, 'hex');
  const h = createHash('sha256');
  for (const chunk of chunks) h.update(chunk);
  return h.digest('hex');
}
