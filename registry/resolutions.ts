import type { Database } from 'better-sqlite3';
import type { Descriptor, Digest } from '../oci/index.js';

/**
 * Remembered resolutions (`reference` → top-level descriptor) in the `registry_resolved` table,
 * which the `local` and `default` resolve modes consult before asking a registry.
 */
export class Resolutions {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS registry_resolved (
      reference TEXT PRIMARY KEY,
      digest TEXT NOT NULL,
      media_type TEXT NOT NULL,
      size INTEGER NOT NULL,
      resolved_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
  }

  get(reference: string): Descriptor | undefined {
    const row = this.#db
      .prepare('SELECT digest, media_type, size FROM registry_resolved WHERE reference = ?')
      .get(reference) as { digest: string; media_type: string; size: number } | undefined;
    return row ? { mediaType: row.media_type, digest: row.digest as Digest, size: row.size } : undefined;
  }

  put(reference: string, descriptor: Descriptor): void {
    this.#db
      .prepare(
        `INSERT INTO registry_resolved (reference, digest, media_type, size, resolved_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (reference) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type,
           size = excluded.size, resolved_at = excluded.resolved_at`,
      )
      .run(reference, descriptor.digest, descriptor.mediaType, descriptor.size, Date.now());
  }
}
