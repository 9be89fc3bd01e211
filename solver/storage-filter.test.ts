import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordFilter, type StorageRecord } from './storage.js';

const record = (recordType: string): StorageRecord => ({
  id: `id-${recordType}`,
  recordType,
  description: `a ${recordType} record`,
  inUse: false,
  mutable: false,
  shared: false,
  size: 1,
  parents: [],
  createdAt: new Date(0),
  usageCount: 0,
});

describe('recordFilter (BuildKit prune and du filters)', () => {
  const records = ['source.local', 'exec.cachemount', 'regular', 'source.git.checkout'].map((t) => record(t));
  const kept = (filters: string[]): string[] =>
    records.filter(recordFilter(filters)).map((r) => r.recordType);

  it('matches everything without filters', () => {
    assert.equal(kept([]).length, records.length);
  });

  it('matches a record when any of several filter strings does (a GC rule listing types)', () => {
    assert.deepEqual(kept(['type==source.local', 'type==exec.cachemount', 'type==source.git.checkout']), [
      'source.local',
      'exec.cachemount',
      'source.git.checkout',
    ]);
  });

  it('needs every comma-separated selector of one string to match', () => {
    assert.deepEqual(kept(['type==source.local,type==exec.cachemount']), []);
    assert.deepEqual(kept(['type!=regular,description~=cache']), ['exec.cachemount']);
  });

  it('refuses an unknown key with an invalid-argument error', () => {
    assert.throws(() => recordFilter(['colour==red']), {
      kind: 'invalid-argument',
      message: /unknown filter key/,
    });
  });
});
