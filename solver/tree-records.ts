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
  readonly entries: ReadonlyMap<string, ReceivedEntry>;
}

/** Parsed entries kept for the most recent snapshots: one build reads them two or three times. */
const recentLimit = 4;

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
  /** Entries of recently saved or read snapshots (immutable once saved), most recent last. */
  readonly #recent = new Map<string, ReadonlyMap<string, ReceivedEntry>>();

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

  /** Records `entries` as `snapshot`'s and the latest of `shareKey`; `entries` must not change afterwards. */
  save(shareKey: string, snapshot: string, entries: ReadonlyMap<string, ReceivedEntry>): void {
    this.#setEntries.run(snapshot, encodeEntries(entries));
    this.#setLatest.run(shareKey, snapshot, Date.now());
    this.#remember(snapshot, entries);
  }

  entries(snapshot: string): ReadonlyMap<string, ReceivedEntry> | undefined {
    const recent = this.#recent.get(snapshot);
    if (recent) return this.#remember(snapshot, recent);
    const row = this.#getEntries.get(snapshot);
    if (!row) return undefined;
    return this.#remember(snapshot, decodeEntries(row.entries));
  }

  forget(snapshot: string): void {
    this.#recent.delete(snapshot);
    this.#delete.run(snapshot);
  }

  #remember(
    snapshot: string,
    entries: ReadonlyMap<string, ReceivedEntry>,
  ): ReadonlyMap<string, ReceivedEntry> {
    this.#recent.delete(snapshot);
    this.#recent.set(snapshot, entries);
    if (this.#recent.size > recentLimit) this.#recent.delete(this.#recent.keys().next().value!);
    return entries;
  }
}

/**
 * One entry as a flat tuple: [path, mode, uid, gid, size, modTime, linkname, devmajor, devminor,
 * xattrs as [name, base64] pairs, digest or ""]. Plain JSON without a reviver parses several
 * times faster than objects revived field by field (5,000 entries: ~15 ms instead of ~140 ms).
 */
type EntryTuple = [
  string,
  number,
  number,
  number,
  number,
  string,
  string,
  number,
  number,
  [string, string][],
  string,
];

function encodeEntries(entries: ReadonlyMap<string, ReceivedEntry>): string {
  const tuples: EntryTuple[] = [];
  for (const { stat, digest } of entries.values()) {
    tuples.push([
      stat.path,
      stat.mode,
      stat.uid,
      stat.gid,
      stat.size,
      stat.modTime.toString(),
      stat.linkname,
      stat.devmajor,
      stat.devminor,
      Object.entries(stat.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      digest ?? '',
    ]);
  }
  return JSON.stringify(tuples);
}

function decodeEntries(text: string): Map<string, ReceivedEntry> {
  // Rows written before the tuple form hold objects with tagged bigints and bytes.
  if (text.startsWith('[{')) {
    const list = JSON.parse(text, jsonReviver) as ReceivedEntry[];
    return new Map(list.map((e) => [e.stat.path, e]));
  }
  const out = new Map<string, ReceivedEntry>();
  for (const t of JSON.parse(text) as EntryTuple[]) {
    const xattrs: Record<string, Uint8Array> = {};
    for (const [k, v] of t[9]) xattrs[k] = new Uint8Array(Buffer.from(v, 'base64'));
    const stat = {
      path: t[0],
      mode: t[1],
      uid: t[2],
      gid: t[3],
      size: t[4],
      modTime: BigInt(t[5]),
      linkname: t[6],
      devmajor: t[7],
      devminor: t[8],
      xattrs,
    };
    out.set(t[0], t[10] ? { stat, digest: t[10] } : { stat });
  }
  return out;
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object') {
    if ('$bigint' in value) return BigInt((value as { $bigint: string }).$bigint);
    if ('$bytes' in value) return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'));
  }
  return value;
}
