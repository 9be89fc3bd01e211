import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { LocalSnapshotter, SnapshotInfo } from '../snapshotter/index.js';
import type { CacheMounts } from './cache-mounts.js';
import type { CacheStore } from './cache-store.js';
import type { TreeRecordStore } from './tree-records.js';

const run = promisify(execFile);

/** A 25-character id like BuildKit's record ids, stable for a snapshot key or a directory. */
function recordId(name: string): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const hash = createHash('sha256').update(name).digest();
  return [...hash.subarray(0, 25)].map((b) => alphabet[b % 36]).join('');
}

/** One thing kiln keeps on disk, as `buildctl du` lists it. */
export interface StorageRecord {
  readonly id: string;
  /** What the record stands for inside kiln (a snapshot key, a directory); never shown. */
  readonly handle?: string;
  readonly mutable: boolean;
  readonly inUse: boolean;
  readonly size: number;
  readonly parents: readonly string[];
  readonly createdAt: Date;
  readonly lastUsedAt?: Date;
  readonly usageCount: number;
  readonly description: string;
  readonly recordType: string;
  readonly shared: boolean;
}

export interface PruneOptions {
  readonly filters: readonly string[];
  /** Also prune internal and frontend records (kept by default, as BuildKit does). */
  readonly all: boolean;
  /** Keep records used within this many milliseconds (0 = no limit). */
  readonly keepDurationMs: number;
  /** Stop once what remains is at most this many bytes (0 = no limit). */
  readonly keepBytes: number;
}

type Predicate = (r: StorageRecord) => boolean;

/**
 * BuildKit's filters: a record matches when any filter string matches it, and a filter string
 * matches when all of its comma-separated selectors do (`key==value`, `key!=value`,
 * `key~=substring`, or a bare boolean key). No filters match everything.
 */
export function recordFilter(filters: readonly string[]): (r: StorageRecord) => boolean {
  const alternatives = filters
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const selectors = f.split(',').filter(Boolean).map(parseSelector);
      return (r: StorageRecord) => selectors.every((p) => p(r));
    });
  return alternatives.length === 0 ? () => true : (r) => alternatives.some((p) => p(r));
}

const recordFields: Readonly<Record<string, (r: StorageRecord) => string>> = {
  id: (r) => r.id,
  type: (r) => r.recordType,
  description: (r) => r.description,
  inuse: (r) => String(r.inUse),
  mutable: (r) => String(r.mutable),
  shared: (r) => String(r.shared),
  private: (r) => String(!r.shared),
};

/** One selector of a filter string. */
function parseSelector(f: string): Predicate {
  const m = /^([a-zA-Z]+)(==|!=|~=|=)?(.*)$/.exec(f.trim());
  if (!m) throw Object.assign(new Error(`invalid filter ${JSON.stringify(f)}`), { kind: 'invalid-argument' });
  const [, key, op, value] = m as unknown as [string, string, string | undefined, string];
  const field = recordFields[key];
  if (!field) {
    throw Object.assign(new Error(`unknown filter key ${JSON.stringify(key)}`), { kind: 'invalid-argument' });
  }
  if (!op) return (r) => field(r) === 'true';
  if (op === '!=') return (r) => field(r) !== value;
  if (op === '~=') return (r) => field(r).includes(value);
  return (r) => field(r) === value;
}

async function directorySize(dir: string): Promise<number> {
  try {
    const { stdout } = await run('du', ['-sb', dir]);
    return Number.parseInt(stdout, 10) || 0;
  } catch {
    return 0;
  }
}

/**
 * What kiln stores, seen as BuildKit records: cached results (committed snapshots pinned by the
 * cache), cache-mount directories, and the snapshot chains under them. Pruning removes records and
 * then every snapshot nothing needs any more (no record, no child, not in use).
 */
export class StorageManager {
  constructor(
    private readonly deps: {
      cache: CacheStore;
      snapshotter: LocalSnapshotter;
      cacheMounts: CacheMounts;
      records: TreeRecordStore;
      /** Snapshots running builds hold. */
      inUse: () => ReadonlySet<string>;
      /** Other things kiln keeps (content blobs, its database), listed as `internal` records. */
      extra?: {
        records(): Promise<StorageRecord[]>;
        /** Frees what a record stands for; false when it cannot be removed. */
        remove(record: StorageRecord): Promise<boolean>;
      };
      logger?: Logger;
    },
  ) {}

  async usage(filters: readonly string[] = []): Promise<StorageRecord[]> {
    const matches = recordFilter(filters);
    return (await this.#records()).filter(matches);
  }

  async *prune(options: PruneOptions, signal?: AbortSignal): AsyncGenerator<StorageRecord> {
    const matches = recordFilter(options.filters);
    const records = await this.#records();
    const cutoff =
      options.keepDurationMs > 0 ? Date.now() - options.keepDurationMs : Number.POSITIVE_INFINITY;
    let total = records.reduce((sum, r) => sum + r.size, 0);
    const candidates = records
      .filter((r) => !r.inUse)
      .filter((r) => options.all || (r.recordType !== 'internal' && r.recordType !== 'frontend'))
      .filter(matches)
      .filter((r) => (r.lastUsedAt ?? r.createdAt).getTime() < cutoff)
      .sort((a, b) => (a.lastUsedAt ?? a.createdAt).getTime() - (b.lastUsedAt ?? b.createdAt).getTime());
    for (const record of candidates) {
      signal?.throwIfAborted();
      if (options.keepBytes > 0 && total <= options.keepBytes) break;
      if (await this.#remove(record)) {
        total -= record.size;
        yield record;
      }
    }
    await this.collectSnapshots();
  }

  /**
   * Start-up repair after a crash: nothing is running, so active snapshots and views are debris,
   * and cache records whose snapshot is gone are dropped. Returns what was removed.
   */
  async reconcile(): Promise<{ snapshots: number; records: number }> {
    const { snapshotter, cache } = this.deps;
    const all: SnapshotInfo[] = [];
    await snapshotter.walk((info) => void all.push(info));
    const committed = new Set(all.filter((i) => i.kind === 'committed').map((i) => i.key));
    let snapshots = 0;
    // Children before parents: a view or active snapshot is never a parent.
    for (const info of all.reverse()) {
      if (info.kind === 'committed') continue;
      await snapshotter.remove(info.key).then(
        () => snapshots++,
        (err: unknown) =>
          this.deps.logger?.warn({ err, snapshot: info.key }, 'leftover snapshot not removed'),
      );
    }
    let records = 0;
    for (const record of cache.records()) {
      if (record.snapshot && !committed.has(record.snapshot)) {
        cache.delete(record.key);
        records++;
      }
    }
    return { snapshots, records };
  }

  /** Removes every committed snapshot no record pins, no snapshot builds on and no build holds. */
  async collectSnapshots(): Promise<number> {
    const { snapshotter, cache, records } = this.deps;
    let removed = 0;
    for (;;) {
      const inUse = this.deps.inUse();
      const all: SnapshotInfo[] = [];
      await snapshotter.walk((info) => void all.push(info));
      const parents = new Set(all.map((i) => i.parent).filter((p): p is string => !!p));
      const garbage = all.filter(
        (i) => i.kind === 'committed' && !parents.has(i.key) && !inUse.has(i.key) && !cache.pins(i.key),
      );
      if (garbage.length === 0) return removed;
      for (const info of garbage) {
        try {
          await snapshotter.remove(info.key);
          records.forget(info.key);
          removed++;
        } catch (err) {
          this.deps.logger?.debug({ err, snapshot: info.key }, 'snapshot not collected');
          return removed;
        }
      }
    }
  }

  async #remove(record: StorageRecord): Promise<boolean> {
    if (record.recordType === 'internal') return (await this.deps.extra?.remove(record)) ?? false;
    if (record.recordType === 'exec.cachemount') {
      const dir = record.handle ?? record.id;
      if (!this.deps.cacheMounts.forget(dir)) return false;
      await rm(dir, { recursive: true, force: true });
      return true;
    }
    for (const entry of this.deps.cache.records()) {
      if (entry.snapshot === record.handle || entry.key === record.handle) this.deps.cache.delete(entry.key);
    }
    return true;
  }

  async #records(): Promise<StorageRecord[]> {
    const { cache, snapshotter, cacheMounts } = this.deps;
    const inUse = this.deps.inUse();
    const bySnapshot = new Map<string, StorageRecord>();
    for (const entry of cache.records()) {
      const id = entry.snapshot;
      if (!id) continue;
      const existing = bySnapshot.get(id);
      if (existing) {
        bySnapshot.set(id, { ...existing, usageCount: existing.usageCount + entry.usageCount });
        continue;
      }
      let info: SnapshotInfo;
      try {
        info = await snapshotter.stat(id);
      } catch {
        continue;
      }
      const usage = await snapshotter.usage(id).catch(() => ({ size: 0 }));
      bySnapshot.set(id, {
        id: recordId(id),
        handle: id,
        mutable: false,
        inUse: inUse.has(id),
        size: usage.size,
        parents: info.parent ? [recordId(info.parent)] : [],
        createdAt: entry.createdAt,
        lastUsedAt: entry.lastUsedAt,
        usageCount: entry.usageCount,
        description: entry.description,
        recordType: entry.recordType,
        shared: false,
      });
    }
    const all: SnapshotInfo[] = [];
    await snapshotter.walk((info) => void all.push(info));
    for (const info of all) {
      if (info.kind !== 'committed' || bySnapshot.has(info.key)) continue;
      const usage = await snapshotter.usage(info.key).catch(() => ({ size: 0 }));
      bySnapshot.set(info.key, {
        id: recordId(info.key),
        handle: info.key,
        mutable: false,
        inUse: inUse.has(info.key),
        size: usage.size,
        parents: info.parent ? [recordId(info.parent)] : [],
        createdAt: info.createdAt,
        usageCount: 0,
        description: info.labels['kiln.description'] ?? '',
        recordType: 'regular',
        shared: false,
      });
    }
    const mounts = await Promise.all(
      cacheMounts.list().map(async (m) => ({
        id: recordId(m.dir),
        handle: m.dir,
        mutable: true,
        inUse: m.inUse,
        size: await directorySize(m.dir),
        parents: [],
        createdAt: m.createdAt,
        lastUsedAt: m.lastUsedAt,
        usageCount: 1,
        description: `cached mount ${m.id}`,
        recordType: 'exec.cachemount',
        shared: false,
      })),
    );
    return [...bySnapshot.values(), ...mounts, ...((await this.deps.extra?.records()) ?? [])];
  }
}
