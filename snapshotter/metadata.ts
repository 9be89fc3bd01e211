import type { Database, Statement } from 'better-sqlite3';
import { SnapshotExistsError, SnapshotNotFoundError } from './errors.js';
import type { LayerRecord, SnapshotInfo, SnapshotKind } from './snapshotter.js';

/** One snapshot row. `id` names the directory and is never reused (AUTOINCREMENT). */
export interface SnapshotRow {
  readonly id: number;
  readonly key: string;
  readonly parentId: number | null;
  readonly parentKey: string | null;
  readonly kind: SnapshotKind;
  readonly depth: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly labels: Record<string, string>;
  readonly size: number | null;
  readonly inodes: number | null;
  readonly flat: boolean;
}

interface RawRow {
  id: number;
  key: string;
  parent_id: number | null;
  parent_key: string | null;
  kind: SnapshotKind;
  depth: number;
  created_at: number;
  updated_at: number;
  labels: string;
  size: number | null;
  inodes: number | null;
  flat: number;
}

const columns = `s.id, s.key, s.parent_id, p.key AS parent_key, s.kind, s.depth, s.created_at, s.updated_at,
  s.labels, s.size, s.inodes, s.flat
  FROM snapshot_snapshots s LEFT JOIN snapshot_snapshots p ON p.id = s.parent_id`;

function toRow(raw: RawRow): SnapshotRow {
  return {
    id: raw.id,
    key: raw.key,
    parentId: raw.parent_id,
    parentKey: raw.parent_key,
    kind: raw.kind,
    depth: raw.depth,
    createdAt: raw.created_at,
    updatedAt: raw.updated_at,
    labels: JSON.parse(raw.labels) as Record<string, string>,
    size: raw.size,
    inodes: raw.inodes,
    flat: raw.flat !== 0,
  };
}

export function toInfo(row: SnapshotRow): SnapshotInfo {
  return {
    key: row.key,
    ...(row.parentKey !== null ? { parent: row.parentKey } : {}),
    kind: row.kind,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    labels: row.labels,
  };
}

/** Sorted keys, so stored label JSON does not depend on insertion order. */
function labelsJson(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/**
 * Snapshot metadata in the daemon's SQLite database: `snapshot_snapshots` (one row per snapshot,
 * scoped by driver so overlay and native rows never mix) and `snapshot_layers` (layer blobs
 * remembered per snapshot and compression). Every method is one statement or one transaction.
 */
export class SnapshotMetadata {
  readonly #db: Database;
  readonly #driver: string;
  readonly #byKey: Statement<[string, string], RawRow>;
  readonly #byId: Statement<[number], RawRow>;

  constructor(options: { db: Database; driver: string }) {
    this.#db = options.db;
    this.#driver = options.driver;
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS snapshot_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        driver TEXT NOT NULL,
        key TEXT NOT NULL,
        parent_id INTEGER,
        kind TEXT NOT NULL,
        depth INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        labels TEXT NOT NULL,
        size INTEGER,
        inodes INTEGER,
        flat INTEGER NOT NULL DEFAULT 0,
        UNIQUE (driver, key)
      );
      CREATE INDEX IF NOT EXISTS snapshot_snapshots_parent ON snapshot_snapshots (parent_id);
      CREATE TABLE IF NOT EXISTS snapshot_layers (
        snapshot_id INTEGER NOT NULL,
        compression TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        diff_id TEXT NOT NULL,
        PRIMARY KEY (snapshot_id, compression)
      );
    `);
    this.#byKey = this.#db.prepare(`SELECT ${columns} WHERE s.driver = ? AND s.key = ?`);
    this.#byId = this.#db.prepare(`SELECT ${columns} WHERE s.id = ?`);
  }

  find(key: string): SnapshotRow | undefined {
    const raw = this.#byKey.get(this.#driver, key);
    return raw ? toRow(raw) : undefined;
  }

  get(key: string): SnapshotRow {
    const row = this.find(key);
    if (!row) throw new SnapshotNotFoundError({ key });
    return row;
  }

  byId(id: number): SnapshotRow | undefined {
    const raw = this.#byId.get(id);
    return raw ? toRow(raw) : undefined;
  }

  /** Inserts a new snapshot; throws SnapshotExistsError when the key is taken. */
  insert(options: {
    key: string;
    parent: SnapshotRow | undefined;
    kind: SnapshotKind;
    labels: Readonly<Record<string, string>>;
  }): SnapshotRow {
    const now = Date.now();
    const insert = this.#db.transaction(() => {
      if (this.find(options.key)) throw new SnapshotExistsError({ key: options.key });
      const result = this.#db
        .prepare(
          `INSERT INTO snapshot_snapshots (driver, key, parent_id, kind, depth, created_at, updated_at, labels)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          this.#driver,
          options.key,
          options.parent?.id ?? null,
          options.kind,
          (options.parent?.depth ?? 0) + 1,
          now,
          now,
          labelsJson(options.labels),
        );
      return Number(result.lastInsertRowid);
    });
    const id = insert();
    const row = this.byId(id);
    if (!row) throw new SnapshotNotFoundError({ key: options.key });
    return row;
  }

  /** Renames active `row` to `name` as committed. Throws SnapshotExistsError when `name` is taken. */
  commit(row: SnapshotRow, name: string, labels: Readonly<Record<string, string>>): void {
    this.#db.transaction(() => {
      if (this.find(name)) throw new SnapshotExistsError({ key: name });
      this.#db
        .prepare(
          `UPDATE snapshot_snapshots SET key = ?, kind = 'committed', labels = ?, updated_at = ? WHERE id = ?`,
        )
        .run(name, labelsJson({ ...row.labels, ...labels }), Date.now(), row.id);
    })();
  }

  setLabels(row: SnapshotRow, labels: Readonly<Record<string, string>>): void {
    this.#db
      .prepare(`UPDATE snapshot_snapshots SET labels = ?, updated_at = ? WHERE id = ?`)
      .run(labelsJson(labels), Date.now(), row.id);
  }

  setUsage(id: number, size: number, inodes: number): void {
    this.#db.prepare(`UPDATE snapshot_snapshots SET size = ?, inodes = ? WHERE id = ?`).run(size, inodes, id);
  }

  setFlat(id: number): void {
    this.#db.prepare(`UPDATE snapshot_snapshots SET flat = 1 WHERE id = ?`).run(id);
  }

  children(row: SnapshotRow): string[] {
    return this.#db
      .prepare<[number], { key: string }>(
        `SELECT key FROM snapshot_snapshots WHERE parent_id = ? ORDER BY key`,
      )
      .all(row.id)
      .map((r) => r.key);
  }

  /** Deletes the row (and its layer records) unless it has children; returns their keys when it does. */
  delete(row: SnapshotRow): string[] {
    return this.#db.transaction(() => {
      const children = this.children(row);
      if (children.length > 0) return children;
      this.#db.prepare(`DELETE FROM snapshot_layers WHERE snapshot_id = ?`).run(row.id);
      this.#db.prepare(`DELETE FROM snapshot_snapshots WHERE id = ?`).run(row.id);
      return [];
    })();
  }

  /** `row` and its ancestors, nearest first. */
  chain(row: SnapshotRow): SnapshotRow[] {
    const out = [row];
    for (let id = row.parentId; id !== null;) {
      const parent = this.byId(id);
      if (!parent) break;
      out.push(parent);
      id = parent.parentId;
    }
    return out;
  }

  /** Every row of this driver, parents before children. */
  all(): SnapshotRow[] {
    return this.#db
      .prepare<[string], RawRow>(`SELECT ${columns} WHERE s.driver = ? ORDER BY s.depth, s.id`)
      .all(this.#driver)
      .map(toRow);
  }

  /** Ids of every driver's snapshots: directories under a shared root belong to one of them. */
  allIds(): Set<number> {
    const rows = this.#db.prepare<[], { id: number }>(`SELECT id FROM snapshot_snapshots`).all();
    return new Set(rows.map((r) => r.id));
  }

  layer(id: number, compression: string): LayerRecord | undefined {
    const raw = this.#db
      .prepare<[number, string], { digest: string; size: number; media_type: string; diff_id: string }>(
        `SELECT digest, size, media_type, diff_id FROM snapshot_layers WHERE snapshot_id = ? AND compression = ?`,
      )
      .get(id, compression);
    return raw
      ? { digest: raw.digest, size: raw.size, mediaType: raw.media_type, diffId: raw.diff_id }
      : undefined;
  }

  setLayer(id: number, compression: string, record: LayerRecord): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO snapshot_layers (snapshot_id, compression, digest, size, media_type, diff_id)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(id, compression, record.digest, record.size, record.mediaType, record.diffId);
  }
}
