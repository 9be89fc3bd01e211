import type { Readable } from 'node:stream';
import type { Digest } from '../oci/index.js';

/**
 * The content store holds immutable blobs addressed by their sha256 digest (layers, configs,
 * manifests, cache configs). A blob becomes visible only when its writer commits, after its size
 * and digest were verified; nothing partial is ever readable. Blobs are removed only by garbage
 * collection, which never removes a blob held by a lease.
 *
 * The interfaces are cut by role, like containerd's: callers take the narrowest one they need.
 */

/** What the store knows about one committed blob. */
export interface ContentInfo {
  readonly digest: Digest;
  readonly size: number;
  readonly createdAt: Date;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ReadOptions {
  /** Byte offset to start at (default 0). */
  readonly offset?: number;
  readonly signal?: AbortSignal;
}

/** Read access to committed blobs. */
export interface ContentProvider {
  /** Throws a not-found error (kind `not-found`) when the blob is absent. Cheap: one SQLite lookup. */
  info(digest: Digest): Promise<ContentInfo>;
  /** A stream of the blob's bytes from `offset`. Throws not-found when absent. */
  reader(digest: Digest, options?: ReadOptions): Promise<Readable>;
}

export interface WriterOptions {
  /**
   * Names the in-progress write. Two writers with the same ref never run at once: the second
   * `writer()` call waits until the first commits or aborts (then, if the first committed the
   * expected digest, it fails with kind `already-exists` so the caller can just use the blob).
   */
  readonly ref: string;
  /** Digest the content must have; verified at commit. */
  readonly expected?: Digest;
  /** Size the content must have, when known; verified at commit. */
  readonly total?: number;
  readonly signal?: AbortSignal;
}

/**
 * One in-progress write. Data goes to a temporary file; `commit` fsyncs, verifies size and digest,
 * and renames the file into place atomically. `abort` (or a failed commit) removes the temporary
 * file, so no partial blob is ever left behind.
 */
export interface ContentWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly offset: number;
  /** Digest of the bytes written so far. */
  digest(): Digest;
  /**
   * Verifies and publishes the blob. Throws kind `failed-precondition` (code
   * KILN_CONTENT_DIGEST_MISMATCH / KILN_CONTENT_SIZE_MISMATCH) when the content does not match,
   * in which case nothing is kept. Committing a blob that already exists succeeds.
   */
  commit(options?: {
    size?: number;
    expected?: Digest;
    labels?: Record<string, string>;
  }): Promise<ContentInfo>;
  abort(): Promise<void>;
}

/** Starts writes. */
export interface Ingester {
  writer(options: WriterOptions): Promise<ContentWriter>;
}

/** Listing, labelling and deleting committed blobs. */
export interface ContentManager {
  /** Calls `fn` for every committed blob; stops early when it returns false. */
  walk(fn: (info: ContentInfo) => boolean | void): Promise<void>;
  /** Merges `labels` into the blob's labels (an empty value deletes a label). */
  updateLabels(digest: Digest, labels: Record<string, string>): Promise<ContentInfo>;
  /** Removes a blob. Throws not-found when absent, failed-precondition when a lease holds it. */
  delete(digest: Digest): Promise<void>;
}

/**
 * Leases keep blobs alive while something uses them (a pull in progress, a build's results, a
 * cache record). A blob is collectable only when no lease holds it.
 */
export interface LeaseManager {
  /** Creates a lease (or returns the existing one with this id). */
  createLease(id: string, options?: { expiresAt?: Date }): Promise<void>;
  addLeaseResource(id: string, digest: Digest): Promise<void>;
  removeLeaseResource(id: string, digest: Digest): Promise<void>;
  deleteLease(id: string): Promise<void>;
}

/** Everything the store offers. */
export interface ContentStore extends ContentProvider, Ingester, ContentManager, LeaseManager {
  /** Deletes every blob no lease holds; returns what it removed and the bytes freed. */
  garbageCollect(options?: { signal?: AbortSignal }): Promise<{ removed: Digest[]; bytes: number }>;
  /** Total bytes of committed blobs (from SQLite, no disk walk). */
  usage(): Promise<{ size: number; count: number }>;
}
