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
   * `writer()` call waits (honouring `signal`) until the first commits or aborts. Callers that
   * fetch a blob use a ref derived from its digest, so concurrent ingests of one digest share one
   * download: the second caller wakes up to find the blob committed.
   */
  readonly ref: string;
  /**
   * Digest the content must have; verified at commit. When the store already holds it (on the
   * call, or after waiting for an earlier writer with the same ref), `writer()` throws kind
   * `already-exists` (ContentExistsError) so the caller can just use the blob.
   */
  readonly expected?: Digest;
  /** Size the content must have, when known; verified at commit (and on write, once exceeded). */
  readonly total?: number;
  /**
   * Lease that will hold the blob: added in the same transaction as the commit, or when `writer()`
   * throws already-exists, so garbage collection can never slip in between. Created if absent.
   */
  readonly lease?: string;
  readonly signal?: AbortSignal;
}

/**
 * One in-progress write. Data goes to a temporary file; `commit` fsyncs, verifies size and digest,
 * and renames the file into place atomically. `abort` (or a failed commit, or the writer's signal
 * aborting) removes the temporary file, so no partial blob is ever left behind. A writer holds its
 * ref until it is committed or aborted: always do one of the two (in `finally`). Using a writer
 * after that throws WriterClosedError; `abort` after commit or abort is a no-op.
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
  /** Creates a lease (or updates the expiry of the existing one with this id). */
  createLease(id: string, options?: { expiresAt?: Date }): Promise<void>;
  /**
   * Makes the lease hold `digest`. The blob need not exist yet: holding a digest before its download
   * starts protects it from the moment it is committed. Throws not-found when the lease is absent.
   */
  addLeaseResource(id: string, digest: Digest): Promise<void>;
  /** Idempotent. */
  removeLeaseResource(id: string, digest: Digest): Promise<void>;
  /** Releases everything the lease holds. Idempotent. */
  deleteLease(id: string): Promise<void>;
}

/** Everything the store offers. */
export interface ContentStore extends ContentProvider, Ingester, ContentManager, LeaseManager {
  /**
   * Deletes expired leases, then every blob no lease holds; returns what it removed and the bytes
   * freed. Cost: one SQLite query plus one unlink per removed blob. Safe to run while writes and
   * pulls are in progress (a blob being committed into a lease is never removed).
   */
  garbageCollect(options?: { signal?: AbortSignal }): Promise<{ removed: Digest[]; bytes: number }>;
  /** Total bytes of committed blobs (from SQLite, no disk walk). */
  usage(): Promise<{ size: number; count: number }>;
}
