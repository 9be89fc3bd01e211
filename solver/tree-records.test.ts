import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { ReceivedEntry } from '../session/index.js';
import { TreeRecordStore } from './index.js';

function entry(path: string, extra: Partial<ReceivedEntry['stat']> = {}, digest?: string): ReceivedEntry {
  return {
    stat: {
      path,
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      size: 12,
      modTime: 1_700_000_000_123_456_789n,
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: {},
      ...extra,
    },
    ...(digest ? { digest } : {}),
  };
}

const sample = new Map<string, ReceivedEntry>([
  ['a.txt', entry('a.txt', {}, `sha256:${'1'.repeat(64)}`)],
  ['dir', entry('dir', { mode: 0x80000000 | 0o755, size: 0 })],
  ['bin', entry('bin', { xattrs: { 'user.raw': new Uint8Array([0, 255, 10]) } }, `sha256:${'2'.repeat(64)}`)],
  ['link', entry('link', { mode: 0x8000000 | 0o777, linkname: 'a.txt', size: 0 })],
]);

describe('TreeRecordStore', () => {
  it('gives back exactly what was saved, from memory and from SQLite', () => {
    const db = new Database(':memory:');
    new TreeRecordStore({ db }).save('ctx:hint', 'local-1', sample);
    // A second store on the same database has nothing in memory: this reads and decodes the row.
    const fresh = new TreeRecordStore({ db });
    const latest = fresh.latest('ctx:hint');
    assert.equal(latest?.snapshot, 'local-1');
    assert.deepEqual([...latest!.entries], [...sample]);
    assert.equal(fresh.entries('local-1'), latest!.entries, 'the second read is the remembered map');
    fresh.forget('local-1');
    assert.equal(fresh.entries('local-1'), undefined);
  });

  it('reads rows written in the earlier object form', () => {
    const db = new Database(':memory:');
    const store = new TreeRecordStore({ db });
    const old = JSON.stringify([
      {
        stat: {
          ...sample.get('bin')!.stat,
          modTime: { $bigint: '1700000000123456789' },
          xattrs: { 'user.raw': { $bytes: 'AP8K' } },
        },
        digest: sample.get('bin')!.digest,
      },
    ]);
    db.prepare('INSERT INTO solver_tree_records (snapshot, entries) VALUES (?, ?)').run('local-old', old);
    assert.deepEqual(store.entries('local-old')?.get('bin'), sample.get('bin'));
  });
});
