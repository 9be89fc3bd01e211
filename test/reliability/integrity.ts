import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * What kiln keeps under its root and must keep consistent through any crash (design.md, "On
 * disk"): `content/blobs/sha256/<hex>` with a `content_blobs` row each, `snapshots/<id>/` (id in
 * base 36) with a `snapshot_snapshots` row each, and `solver_cache` rows that name committed
 * snapshots. Read while the daemon is idle (or stopped): a write in progress is not debris yet.
 */
export interface IntegrityReport {
  readonly blobs: number;
  readonly blobBytes: number;
  readonly snapshots: number;
  readonly cacheRecords: number;
  /** Everything that is not as kiln promises, one sentence each; empty when the root is sound. */
  readonly problems: readonly string[];
}

/** What a root holds that a crash must not take away: committed blobs and committed snapshots. */
export interface Inventory {
  /** digest → size in bytes */
  readonly blobs: ReadonlyMap<string, number>;
  /** committed snapshot key → bytes in its own directory */
  readonly snapshots: ReadonlyMap<string, number>;
}

interface SnapshotRow {
  id: number;
  key: string;
  kind: string;
}

async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Entries of `dir`, or none when it does not exist (a root before its first use). */
async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
}

/** Bytes in regular files under `dir` (not following links). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

function openReadOnly(root: string): Database.Database {
  return new Database(join(root, 'kiln.db'), { readonly: true, fileMustExist: true });
}

/**
 * Checks a kiln root: every blob's sha256 equals its name and its row's size, rows and blob files
 * match one to one, no ingest debris is left, SQLite's `PRAGMA integrity_check` answers ok, every
 * snapshot row has its directory and every snapshot directory has its row, and every cache record
 * names a committed snapshot.
 */
export async function checkIntegrity(root: string): Promise<IntegrityReport> {
  const problems: string[] = [];
  const db = openReadOnly(root);
  try {
    const verdict = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    const lines = verdict.map((row) => row.integrity_check);
    if (lines.join() !== 'ok') problems.push(`kiln.db integrity_check: ${lines.slice(0, 5).join('; ')}`);

    const rows = new Map(
      (
        db.prepare('SELECT digest, size FROM content_blobs').all() as Array<{ digest: string; size: number }>
      ).map((r) => [r.digest, r.size]),
    );
    const blobDir = join(root, 'content', 'blobs', 'sha256');
    let blobs = 0;
    let blobBytes = 0;
    for (const name of await entries(blobDir)) {
      const { digest, size } = await sha256File(join(blobDir, name));
      blobs++;
      blobBytes += size;
      const expected = `sha256:${name}`;
      if (digest !== expected) problems.push(`blob ${expected} holds content with digest ${digest}`);
      const recorded = rows.get(expected);
      if (recorded === undefined) problems.push(`blob ${expected} has no content_blobs row`);
      else if (recorded !== size)
        problems.push(`blob ${expected} is ${size} bytes, its row says ${recorded}`);
      rows.delete(expected);
    }
    for (const digest of rows.keys()) problems.push(`content_blobs row ${digest} has no blob file`);
    for (const name of await entries(join(root, 'content', 'ingest')))
      problems.push(`ingest debris content/ingest/${name}`);

    const snapshots = db.prepare('SELECT id, key, kind FROM snapshot_snapshots').all() as SnapshotRow[];
    const dirs = new Set(await entries(join(root, 'snapshots')));
    // Temporary mounts live here while a step or export reads a tree; an idle root has none left.
    if (dirs.delete('tmp-mounts')) {
      for (const name of await entries(join(root, 'snapshots', 'tmp-mounts')))
        problems.push(`temporary mount left: snapshots/tmp-mounts/${name}`);
    }
    for (const row of snapshots) {
      const name = row.id.toString(36);
      if (!dirs.delete(name))
        problems.push(`snapshot ${row.key} (${row.kind}, dir ${name}) has no directory`);
      else if (row.kind !== 'committed')
        problems.push(`snapshot ${row.key} left ${row.kind} by an earlier run`);
    }
    for (const name of dirs) problems.push(`snapshots/${name} belongs to no snapshot row`);

    const committed = new Set(snapshots.filter((s) => s.kind === 'committed').map((s) => s.key));
    const cache = db.prepare('SELECT key, snapshot FROM solver_cache').all() as Array<{
      key: string;
      snapshot: string | null;
    }>;
    for (const record of cache) {
      if (record.snapshot && !committed.has(record.snapshot))
        problems.push(`cache record ${record.key} names missing snapshot ${record.snapshot}`);
    }
    return { blobs, blobBytes, snapshots: snapshots.length, cacheRecords: cache.length, problems };
  } finally {
    db.close();
  }
}

/** The committed blobs and snapshots of a root, to compare before and after a crash. */
export async function inventory(root: string): Promise<Inventory> {
  const db = openReadOnly(root);
  try {
    const blobs = new Map(
      (
        db.prepare('SELECT digest, size FROM content_blobs').all() as Array<{ digest: string; size: number }>
      ).map((r) => [r.digest, r.size]),
    );
    const rows = db
      .prepare(`SELECT id, key, kind FROM snapshot_snapshots WHERE kind = 'committed'`)
      .all() as SnapshotRow[];
    const snapshots = new Map<string, number>();
    for (const row of rows)
      snapshots.set(row.key, await treeBytes(join(root, 'snapshots', row.id.toString(36))));
    return { blobs, snapshots };
  } finally {
    db.close();
  }
}

/** What `before` held that `after` lacks: counts and bytes. */
export function lost(
  before: Inventory,
  after: Inventory,
): { blobs: number; snapshots: number; bytes: number } {
  let blobs = 0;
  let snapshots = 0;
  let bytes = 0;
  for (const [digest, size] of before.blobs) {
    if (after.blobs.has(digest)) continue;
    blobs++;
    bytes += size;
  }
  for (const [key, size] of before.snapshots) {
    if (after.snapshots.has(key)) continue;
    snapshots++;
    bytes += size;
  }
  return { blobs, snapshots, bytes };
}
