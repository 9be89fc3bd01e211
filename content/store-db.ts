import type { Database } from 'better-sqlite3';
import type { Digest } from '../oci/index.js';
import type { ContentInfo } from './content.js';

interface BlobRow {
  digest: string;
  size: number;
  created_at: number;
  labels: string;
}

function toInfo(row: BlobRow): ContentInfo {
  return {
    digest: row.digest as Digest,
    size: row.size,
    createdAt: new Date(row.created_at),
    labels: JSON.parse(row.labels) as Record<string, string>,
  };
}

/**
 * The content store's SQLite tables: blob sizes, labels and created times, leases and what they
 * hold. Every method is one synchronous statement or transaction, so callers on the event loop
 * never see a half-applied change.
 */
export class ContentDb {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS content_blobs (
        digest TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}'
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS content_leases (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        expires_at INTEGER
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS content_lease_resources (
        lease_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (lease_id, digest)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS content_lease_resources_by_digest ON content_lease_resources (digest);
    `);
  }

  get(digest: Digest): ContentInfo | undefined {
    const row = this.#db.prepare('SELECT * FROM content_blobs WHERE digest = ?').get(digest) as
      BlobRow | undefined;
    return row ? toInfo(row) : undefined;
  }

  all(): ContentInfo[] {
    return (this.#db.prepare('SELECT * FROM content_blobs ORDER BY digest').all() as BlobRow[]).map(toInfo);
  }

  /** Records a committed blob (keeping the row if it exists), merges labels, and leases it. */
  publish(options: {
    digest: Digest;
    size: number;
    labels?: Record<string, string>;
    lease?: string;
    now?: number;
  }): ContentInfo {
    return this.#db.transaction(() => {
      const now = options.now ?? Date.now();
      this.#db
        .prepare('INSERT OR IGNORE INTO content_blobs (digest, size, created_at) VALUES (?, ?, ?)')
        .run(options.digest, options.size, now);
      if (options.labels && Object.keys(options.labels).length > 0) {
        this.#mergeLabels(options.digest, options.labels);
      }
      if (options.lease !== undefined) this.#hold(options.lease, options.digest, true);
      return this.get(options.digest)!;
    })();
  }

  updateLabels(digest: Digest, labels: Record<string, string>): ContentInfo | undefined {
    return this.#db.transaction(() => {
      if (!this.get(digest)) return undefined;
      this.#mergeLabels(digest, labels);
      return this.get(digest);
    })();
  }

  #mergeLabels(digest: Digest, labels: Record<string, string>): void {
    const current = this.get(digest)?.labels ?? {};
    const merged: Record<string, string> = { ...current };
    for (const [key, value] of Object.entries(labels)) {
      if (value === '') delete merged[key];
      else merged[key] = value;
    }
    const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : 1)));
    this.#db
      .prepare('UPDATE content_blobs SET labels = ? WHERE digest = ?')
      .run(JSON.stringify(sorted), digest);
  }

  deleteBlob(digest: Digest): void {
    this.#db.prepare('DELETE FROM content_blobs WHERE digest = ?').run(digest);
  }

  /** Leases (not expired at `now`) holding `digest`. */
  holders(digest: Digest, now = Date.now()): string[] {
    const rows = this.#db
      .prepare(
        `SELECT r.lease_id AS id FROM content_lease_resources r JOIN content_leases l ON l.id = r.lease_id
         WHERE r.digest = ? AND (l.expires_at IS NULL OR l.expires_at > ?) ORDER BY r.lease_id`,
      )
      .all(digest, now) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  createLease(id: string, expiresAt: Date | undefined): void {
    this.#db
      .prepare(
        `INSERT INTO content_leases (id, created_at, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`,
      )
      .run(id, Date.now(), expiresAt ? expiresAt.getTime() : null);
  }

  leaseExists(id: string): boolean {
    return this.#db.prepare('SELECT 1 FROM content_leases WHERE id = ?').get(id) !== undefined;
  }

  /** Adds `digest` to lease `id`; creates the lease first when `create`. Returns false if it is absent. */
  hold(id: string, digest: Digest, create: boolean): boolean {
    return this.#db.transaction(() => this.#hold(id, digest, create))();
  }

  #hold(id: string, digest: Digest, create: boolean): boolean {
    if (!this.leaseExists(id)) {
      if (!create) return false;
      this.createLease(id, undefined);
    }
    this.#db
      .prepare('INSERT OR IGNORE INTO content_lease_resources (lease_id, digest) VALUES (?, ?)')
      .run(id, digest);
    return true;
  }

  release(id: string, digest: Digest): void {
    this.#db.prepare('DELETE FROM content_lease_resources WHERE lease_id = ? AND digest = ?').run(id, digest);
  }

  deleteLease(id: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM content_lease_resources WHERE lease_id = ?').run(id);
      this.#db.prepare('DELETE FROM content_leases WHERE id = ?').run(id);
    })();
  }

  /** Drops leases that expired at `now`; returns how many. */
  expireLeases(now = Date.now()): number {
    return this.#db.transaction(() => {
      const expired = this.#db
        .prepare('SELECT id FROM content_leases WHERE expires_at IS NOT NULL AND expires_at <= ?')
        .all(now) as Array<{ id: string }>;
      for (const { id } of expired) this.deleteLease(id);
      return expired.length;
    })();
  }

  /** Blobs no lease holds (candidates for collection). */
  unheld(): ContentInfo[] {
    const rows = this.#db
      .prepare(
        `SELECT * FROM content_blobs b
         WHERE NOT EXISTS (SELECT 1 FROM content_lease_resources r WHERE r.digest = b.digest)
         ORDER BY digest`,
      )
      .all() as BlobRow[];
    return rows.map(toInfo);
  }

  /** Removes the blob's row if still no lease holds it; returns the removed row. */
  deleteIfUnheld(digest: Digest): ContentInfo | undefined {
    return this.#db.transaction(() => {
      const info = this.get(digest);
      if (!info) return undefined;
      const held = this.#db.prepare('SELECT 1 FROM content_lease_resources WHERE digest = ?').get(digest);
      if (held !== undefined) return undefined;
      this.deleteBlob(digest);
      return info;
    })();
  }

  usage(): { size: number; count: number } {
    const row = this.#db
      .prepare('SELECT COALESCE(SUM(size), 0) AS size, COUNT(*) AS count FROM content_blobs')
      .get() as {
      size: number;
      count: number;
    };
    return row;
  }
}
