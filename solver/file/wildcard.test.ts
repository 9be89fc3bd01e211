import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globMatch } from './index.js';

describe("wildcards (Go's filepath.Match)", () => {
  const cases: [string, string, boolean][] = [
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false],
    ['*/a.txt', 'dir/a.txt', true],
    ['a?.txt', 'a1.txt', true],
    ['a?.txt', 'a/.txt', false],
    ['[ab]1.*', 'b1.log', true],
    ['[^a]*', 'b', true],
    ['[^a]*', 'a', false],
    ['[a-c]', 'b', true],
    ['[c-a]', 'b', false],
    ['[^c-a]', 'b', true],
    ['\\[x\\].txt', '[x].txt', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['[\\]]', ']', true],
    ['*', '', true],
    ['[', '[', false],
    ['[]', ']', false],
    ['a\\', 'a', false],
    ['[a-]', 'a', false],
    ['ä*', 'äöü', true],
    ['?', 'ä', true],
  ];
  for (const [pattern, name, want] of cases) {
    it(`${pattern} ${want ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => {
      assert.equal(globMatch(pattern, name), want);
    });
  }
});
