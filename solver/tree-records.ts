import type Database from 'better-sqlite3';
import { GoMode, type ReceivedEntry } from '../session/index.js';
import type { EntryInfo, EntryType } from './tree-source.js';

export type TreeRecord = EntryInfo & { readonly digest?: string };

function permissions(mode: number): number {
  return (
    (mode & 0o777) |
    (mode & GoMode.setuid ? 0o4000 : 0) |
    (mode & GoMode.setgid ? 0o2000 : 0) |
    (mode & GoMode.sticky ? 0o1000 : 0)
  );
}

function entryType(mode: number): EntryType {
  if (mode & GoMode.dir) return 'dir';
  if (mode & GoMode.symlink) return 'symlink';
  if (mode & GoMode.namedPipe) return 'fifo';
  if (mode & GoMode.socket) return 'socket';
  if (mode & GoMode.device) return mode & GoMode.charDevice ? 'char' : 'block';
  return 'file';
}

/** The records of a received tree as checksums read them (hardlinks take their target's content). */
export function treeRecords(entries: ReadonlyMap<string, ReceivedEntry>): Map<string, TreeRecord> {
  const out = new Map<string, TreeRecord>();
  for (const [path, { stat, digest }] of entries) {
    const type = entryType(stat.mode >>> 0);
    const hardlinkTarget = type === 'file' && stat.linkname ? entries.get(stat.linkname) : undefined;
    out.set(path, {
      type,
      mode: permissions(stat.mode),
      uid: stat.uid,
      gid: stat.gid,
      size: type === 'file' ? (hardlinkTarget?.stat.size ?? stat.size) : 0,
      linkname: type === 'symlink' ? stat.linkname : '',
      devmajor: stat.devmajor,
      devminor: stat.devminor,
      xattrs: new Map(Object.entries(stat.xattrs).sort(([a], [b]) => (a < b ? -1 : 1))),
      ...((digest ?? hardlinkTarget?.digest) ? { digest: digest ?? hardlinkTarget?.digest } : {}),
    });
  }
  return out;
}

interface StoredTransfer {
  readonly snapshot: string;
  readonly entries: Map<string, ReceivedEntry>;
}

/**
 * What kiln remembers of received local directories: per transfer key, the latest snapshot and
 * its entries (the base of the next incremental transfer); per snapshot, its entries (so content
 * checksums never read the tree again).
 */
export class TreeRecordStore {
  readonly #getLatest: Database.Statement<[string], { snapshot: string }>;
  readonly #setLatest: Database.Statement<[string, string, number]>;
  readonly #getEntries: Database.Statement<[string], { entries: string }>;
  readonly #setEntries: Database.Statement<[string, string]>;
  readonly #delete: Database.Statement<[string]>;

  constructor(options: { db: Database.Database }) {
    options.db.exec(`CREATE TABLE IF NOT EXISTS solver_local_transfers (
      share_key TEXT PRIMARY KEY, snapshot TEXT NOT NULL, updated_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS solver_tree_records (snapshot TEXT PRIMARY KEY, entries TEXT NOT NULL);`);
    this.#getLatest = options.db.prepare('SELECT snapshot FROM solver_local_transfers WHERE share_key = ?');
    this.#setLatest = options.db.prepare(
      'INSERT OR REPLACE INTO solver_local_transfers (share_key, snapshot, updated_at) VALUES (?, ?, ?)',
    );
    this.#getEntries = options.db.prepare('SELECT entries FROM solver_tree_records WHERE snapshot = ?');
    this.#setEntries = options.db.prepare(
      'INSERT OR REPLACE INTO solver_tree_records (snapshot, entries) VALUES (?, ?)',
    );
    this.#delete = options.db.prepare('DELETE FROM solver_tree_records WHERE snapshot = ?');
  }

  latest(shareKey: string): StoredTransfer | undefined {
    const row = this.#getLatest.get(shareKey);
    if (!row) return undefined;
    const entries = this.entries(row.snapshot);
    return entries ? { snapshot: row.snapshot, entries } : undefined;
  }

  save(shareKey: string, snapshot: string, entries: ReadonlyMap<string, ReceivedEntry>): void {
    this.#setEntries.run(snapshot, JSON.stringify([...entries.values()], jsonReplacer));
    this.#setLatest.run(shareKey, snapshot, Date.now());
  }

  entries(snapshot: string): Map<string, ReceivedEntry> | undefined {
    const row = this.#getEntries.get(snapshot);
    if (!row) return undefined;
    const list = JSON.parse(row.entries, jsonReviver) as ReceivedEntry[];
    return new Map(list.map((e) => [e.stat.path, e]));
  }

  forget(snapshot: string): void {
    this.#delete.run(snapshot);
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  return value;
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object') {
    if ('$bigint' in value) return BigInt((value as { $bigint: string }).$bigint);
    if ('$bytes' in value) return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'));
  }
  return value;
}
