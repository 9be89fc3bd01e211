import type Database from 'better-sqlite3';

/** One cached result: the committed snapshot a cache key resolves to. */
export interface CacheRecord {
  readonly key: string;
  /** Committed snapshot holding the result; `undefined` for an empty (scratch) result. */
  readonly snapshot: string | undefined;
  readonly createdAt: Date;
  readonly lastUsedAt: Date;
  readonly usageCount: number;
  readonly description: string;
  /** BuildKit's record types: regular, internal, frontend, source.local, source.git.checkout, exec.cachemount. */
  readonly recordType: string;
}

interface Row {
  key: string;
  snapshot: string | null;
  created_at: number;
  last_used_at: number;
  usage_count: number;
  description: string;
  record_type: string;
}

function toRecord(row: Row): CacheRecord {
  return {
    key: row.key,
    snapshot: row.snapshot ?? undefined,
    createdAt: new Date(row.created_at),
    lastUsedAt: new Date(row.last_used_at),
    usageCount: row.usage_count,
    description: row.description,
    recordType: row.record_type,
  };
}

/**
 * The one cache: cache keys → results, in SQLite. A row both answers lookups and pins the
 * snapshot it names, so garbage collection reads the same table to know what is alive. Calls are
 * synchronous (one indexed statement each), cheap enough for the scheduler's hot path.
 */
export class CacheStore {
  readonly #lookup: Database.Statement<[string], Row>;
  readonly #touch: Database.Statement<[number, string]>;
  readonly #save: Database.Statement<[string, string | null, number, number, string, string]>;
  readonly #delete: Database.Statement<[string]>;
  readonly #all: Database.Statement<[], Row>;
  readonly #bySnapshot: Database.Statement<[string], { n: number }>;

  constructor(options: { db: Database.Database }) {
    const { db } = options;
    db.exec(`CREATE TABLE IF NOT EXISTS solver_cache (
      key TEXT PRIMARY KEY,
      snapshot TEXT,
      created_at INTEGER NOT NULL,
      last_used_at INTEGER NOT NULL,
      usage_count INTEGER NOT NULL DEFAULT 0,
      description TEXT NOT NULL DEFAULT '',
      record_type TEXT NOT NULL DEFAULT 'regular'
    );
    CREATE INDEX IF NOT EXISTS solver_cache_snapshot ON solver_cache (snapshot);`);
    this.#lookup = db.prepare('SELECT * FROM solver_cache WHERE key = ?');
    this.#touch = db.prepare(
      'UPDATE solver_cache SET last_used_at = ?, usage_count = usage_count + 1 WHERE key = ?',
    );
    this.#save =
      db.prepare(`INSERT INTO solver_cache (key, snapshot, created_at, last_used_at, usage_count, description, record_type)
      VALUES (?, ?, ?, ?, 1, ?, ?)
      ON CONFLICT (key) DO UPDATE SET snapshot = excluded.snapshot, last_used_at = excluded.last_used_at,
        usage_count = usage_count + 1, description = excluded.description, record_type = excluded.record_type`);
    this.#delete = db.prepare('DELETE FROM solver_cache WHERE key = ?');
    this.#all = db.prepare('SELECT * FROM solver_cache ORDER BY last_used_at');
    this.#bySnapshot = db.prepare('SELECT count(*) AS n FROM solver_cache WHERE snapshot = ?');
  }

  /** The record for a key, marking it used; undefined on a miss. */
  lookup(key: string): CacheRecord | undefined {
    const row = this.#lookup.get(key);
    if (!row) return undefined;
    this.#touch.run(Date.now(), key);
    return toRecord(row);
  }

  save(
    key: string,
    result: { snapshot: string | undefined; description: string; recordType?: string },
  ): void {
    const now = Date.now();
    this.#save.run(
      key,
      result.snapshot ?? null,
      now,
      now,
      result.description,
      result.recordType ?? 'regular',
    );
  }

  delete(key: string): void {
    this.#delete.run(key);
  }

  /** Every record, least recently used first. */
  records(): CacheRecord[] {
    return this.#all.all().map(toRecord);
  }

  /** Whether any record keeps this snapshot alive. */
  pins(snapshot: string): boolean {
    return (this.#bySnapshot.get(snapshot)?.n ?? 0) > 0;
  }
}
