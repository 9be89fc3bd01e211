import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ratio, summarize } from './index.js';

describe('summarize', () => {
  it('gives the median, range and median absolute deviation', () => {
    const s = summarize([5, 1, 4, 2, 100]);
    assert.deepEqual(s, { n: 5, median: 4, min: 1, max: 100, mad: 2 });
  });

  it('averages the middle pair of an even count', () => {
    assert.equal(summarize([4, 1, 3, 2])?.median, 2.5);
  });

  it('has nothing to say about no samples', () => {
    assert.equal(summarize([]), undefined);
  });

  it('divides medians, and refuses a missing side or a zero', () => {
    assert.equal(ratio(summarize([2, 2, 2]), summarize([1, 1, 9])), 2);
    assert.equal(ratio(undefined, summarize([1])), undefined);
    assert.equal(ratio(summarize([1]), summarize([0])), undefined);
  });
});
