import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import { digestHex, type Digest } from '../oci/index.js';
import type { ContentInfo, ContentStore, ContentWriter, ReadOptions, WriterOptions } from './content.js';
import { ContentExistsError, ContentInUseError, ContentNotFoundError, LeaseNotFoundError } from './errors.js';
import { KeyedLock } from './keyed-lock.js';
import { LocalWriter } from './local-writer.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { ContentDb } from './store-db.js';
import { fsyncDir } from './fsync-dir.js';

export interface LocalContentStoreOptions {
  /** The store's directory (`<daemon root>/content`); `blobs/sha256/` and `ingest/` live below it. */
  readonly root: string;
  /** The daemon's database (WAL on); the store creates its `content_*` tables. */
  readonly db: Database;
  readonly logger?: Logger;
}

/**
 * The content store on local disk: blobs at `<root>/blobs/sha256/<hex>`, writes staged in
 * `<root>/ingest/`, sizes, labels, created times and leases in SQLite. The constructor creates
 * directories and tables synchronously; call `reconcile()` once at startup (or use `open`) before
 * serving, so the database and the directories agree.
 */
export class LocalContentStore implements ContentStore {
  readonly #root: string;
  readonly #db: ContentDb;
  readonly #logger: Logger | undefined;
  readonly #refs = new KeyedLock();
  readonly #digests = new KeyedLock();

  constructor(options: LocalContentStoreOptions) {
    this.#root = options.root;
    this.#logger = options.logger;
    mkdirSync(join(this.#root, 'blobs', 'sha256'), { recursive: true });
    mkdirSync(join(this.#root, 'ingest'), { recursive: true });
    this.#db = new ContentDb(options.db);
  }

  /** Constructs the store and reconciles it with the disk (see `reconcile`). */
  static async open(
    options: LocalContentStoreOptions & { signal?: AbortSignal },
  ): Promise<LocalContentStore> {
    const store = new LocalContentStore(options);
    await store.reconcile({ signal: options.signal });
    return store;
  }

  /**
   * Makes the database and the directories agree after a crash: removes ingest debris, drops rows
   * whose file is gone, adopts blob files without a row once their digest is verified (a crash
   * between rename and insert) and removes the rest. Cost: hashes every unrecorded file. Must run
   * before any writer starts.
   */
  reconcile(options: { signal?: AbortSignal } = {}): Promise<ReconcileReport> {
    return reconcile({ root: this.#root, db: this.#db, logger: this.#logger, signal: options.signal });
  }

  /** Where the blob's file lives (it exists only while the blob is in the store). */
  blobPath(digest: Digest): string {
    return join(this.#root, 'blobs', 'sha256', digestHex(digest));
  }

  async info(digest: Digest): Promise<ContentInfo> {
    const info = this.#db.get(digest);
    if (!info) throw new ContentNotFoundError({ digest });
    return info;
  }

  async reader(digest: Digest, options: ReadOptions = {}): Promise<Readable> {
    options.signal?.throwIfAborted();
    await this.info(digest);
    let handle;
    try {
      handle = await open(this.blobPath(digest), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ContentNotFoundError({ digest, cause: error });
      throw error;
    }
    // 1 MiB reads: with the 64 KiB default, pushing a 100 MB layer took twice the CPU.
    const stream = handle.createReadStream({ start: options.offset ?? 0, highWaterMark: 1 << 20 });
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => void stream.destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return stream;
  }

  async writer(options: WriterOptions): Promise<ContentWriter> {
    const release = await this.#refs.acquire(options.ref, options.signal);
    try {
      if (options.expected !== undefined && this.#db.get(options.expected)) {
        if (options.lease !== undefined) this.#db.hold(options.lease, options.expected, true);
        throw new ContentExistsError({ digest: options.expected, ref: options.ref });
      }
      const path = join(this.#root, 'ingest', randomBytes(12).toString('hex'));
      const handle = await open(path, 'wx');
      return new LocalWriter({
        ref: options.ref,
        path,
        handle,
        expected: options.expected,
        total: options.total,
        signal: options.signal,
        release,
        publish: (blob) => this.#publish({ ...blob, lease: options.lease }),
      });
    } catch (error) {
      release();
      throw error;
    }
  }

  async #publish(blob: {
    digest: Digest;
    size: number;
    path: string;
    labels?: Record<string, string>;
    lease?: string;
  }): Promise<ContentInfo> {
    const release = await this.#digests.acquire(blob.digest);
    try {
      const target = this.blobPath(blob.digest);
      if (await exists(target)) {
        await rm(blob.path, { force: true });
      } else {
        await rename(blob.path, target);
        // Past the rename the blob is published; a lost directory entry would only cost a re-download.
        await fsyncDir(join(this.#root, 'blobs', 'sha256')).catch((error: unknown) =>
          this.#logger?.warn({ err: error, digest: blob.digest }, 'fsync of blob directory failed'),
        );
      }
      const info = this.#db.publish({
        digest: blob.digest,
        size: blob.size,
        labels: blob.labels,
        lease: blob.lease,
      });
      this.#logger?.debug({ digest: blob.digest, size: blob.size }, 'blob committed');
      return info;
    } finally {
      release();
    }
  }

  async walk(fn: (info: ContentInfo) => boolean | void): Promise<void> {
    for (const info of this.#db.all()) {
      if (fn(info) === false) return;
    }
  }

  async updateLabels(digest: Digest, labels: Record<string, string>): Promise<ContentInfo> {
    const info = this.#db.updateLabels(digest, labels);
    if (!info) throw new ContentNotFoundError({ digest });
    return info;
  }

  async delete(digest: Digest): Promise<void> {
    const release = await this.#digests.acquire(digest);
    try {
      if (!this.#db.get(digest)) throw new ContentNotFoundError({ digest });
      const leases = this.#db.holders(digest);
      if (leases.length > 0) throw new ContentInUseError({ digest, leases });
      this.#db.deleteBlob(digest);
      await rm(this.blobPath(digest), { force: true });
    } finally {
      release();
    }
  }

  async createLease(id: string, options: { expiresAt?: Date } = {}): Promise<void> {
    this.#db.createLease(id, options.expiresAt);
  }

  async addLeaseResource(id: string, digest: Digest): Promise<void> {
    if (!this.#db.hold(id, digest, false)) throw new LeaseNotFoundError({ lease: id });
  }

  async removeLeaseResource(id: string, digest: Digest): Promise<void> {
    this.#db.release(id, digest);
  }

  async deleteLease(id: string): Promise<void> {
    this.#db.deleteLease(id);
  }

  async garbageCollect(
    options: { signal?: AbortSignal } = {},
  ): Promise<{ removed: Digest[]; bytes: number }> {
    this.#db.expireLeases();
    const removed: Digest[] = [];
    let bytes = 0;
    for (const candidate of this.#db.unheld()) {
      options.signal?.throwIfAborted();
      const release = await this.#digests.acquire(candidate.digest, options.signal);
      try {
        const info = this.#db.deleteIfUnheld(candidate.digest);
        if (!info) continue;
        await rm(this.blobPath(info.digest), { force: true });
        removed.push(info.digest);
        bytes += info.size;
      } finally {
        release();
      }
    }
    if (removed.length > 0) this.#logger?.info({ count: removed.length, bytes }, 'content garbage collected');
    return { removed, bytes };
  }

  async usage(): Promise<{ size: number; count: number }> {
    return this.#db.usage();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
