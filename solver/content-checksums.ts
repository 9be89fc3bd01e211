import { TreeChecksummer, type ChecksumMemo } from './checksum.js';
import { snapshotOf, type ResultRef, type Selector } from './op.js';
import type { ContentChecksummer } from './scheduler.js';
import type { SnapshotAccess } from './snapshot-access.js';
import { treeRecords, type TreeRecordStore } from './tree-records.js';
import { DiskTree, RecordTree } from './tree-source.js';
import { sha256 } from '../oci/index.js';

const rootSelector: Selector = { path: '/', followLinks: true, wildcard: false };

/**
 * Content checksums for cache keys, memoised per immutable snapshot and selector (an unchanged
 * tree is hashed once, ever). Received contexts are checksummed from their transfer records
 * without reading the disk.
 */
export class SnapshotChecksums implements ContentChecksummer {
  constructor(
    private readonly memo: ChecksumMemo,
    private readonly records: TreeRecordStore,
    private readonly access: SnapshotAccess,
  ) {}

  async checksum(ref: ResultRef, selectors: readonly Selector[], signal: AbortSignal): Promise<string> {
    const list = selectors.length > 0 ? selectors : [rootSelector];
    const parts = await Promise.all(list.map((s) => this.#one(ref, s, signal)));
    return parts.length === 1 ? parts[0]! : sha256(parts.join('|'));
  }

  async #one(ref: ResultRef, selector: Selector, signal: AbortSignal): Promise<string> {
    const snapshot = await snapshotOf(ref, signal);
    if (!snapshot) return sha256(`empty|${selector.path}`);
    const key = JSON.stringify(selector);
    const known = this.memo.get(snapshot, key);
    if (known) return known;
    const entries = this.records.entries(snapshot);
    const digest = entries
      ? await new TreeChecksummer(new RecordTree(treeRecords(entries))).checksum(selector)
      : await this.access.withTree(
          snapshot,
          (dir) => new TreeChecksummer(new DiskTree(dir)).checksum(selector),
          signal,
        );
    this.memo.put(snapshot, key, digest);
    return digest;
  }
}
