import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDiskSize, parseDuration } from './units.js';

describe('config units', () => {
  it('parses disk sizes', () => {
    assert.deepEqual(parseDiskSize(1024), { bytes: 1024 });
    assert.deepEqual(parseDiskSize('512MB'), { bytes: 512e6 });
    assert.deepEqual(parseDiskSize('2GiB'), { bytes: 2 * 1024 ** 3 });
    assert.deepEqual(parseDiskSize('10%'), { percent: 10 });
    assert.equal(parseDiskSize('ten'), undefined);
    assert.equal(parseDiskSize(-1), undefined);
  });
  it('parses durations', () => {
    assert.equal(parseDuration(172800), 172_800_000);
    assert.equal(parseDuration('48h'), 172_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('soon'), undefined);
  });
});
