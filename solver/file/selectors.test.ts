import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { FileOpSchema } from '../../proto/gen/pb/ops_pb.js';
import { copySelectors, fileOpSelectors } from './index.js';
import { copyOf, mkdirOf, mkfileOf, ownerOf } from './test-support.js';

describe('cache selectors', () => {
  it('describe the source of a copy as BuildKit does', () => {
    const [plain] = copySelectors(
      copyOf('/app/*.go', '/x', { allowWildcard: true, followSymlink: true }).action.value as never,
    );
    assert.deepEqual(plain, {
      path: '/app/*.go',
      followLinks: true,
      wildcard: true,
      includePatterns: [],
      excludePatterns: [],
    });
    const [escaped] = copySelectors(copyOf('/a/\\*', '/x', { allowWildcard: true }).action.value as never);
    assert.equal(escaped?.wildcard, false);
    const [filtered] = copySelectors(copyOf('/a', '/x', { excludePatterns: ['*.md'] }).action.value as never);
    assert.deepEqual(filtered?.excludePatterns, ['*.md']);
  });

  it('collect per input, dedupe nested paths and skip inputs used as a base', () => {
    const copyA = copyOf('/src/app', '/a', { followSymlink: true });
    const copyB = copyOf('/src', '/b', { followSymlink: true });
    const copyC = copyOf('/src/*.txt', '/c', { allowWildcard: true });
    const chown = mkfileOf('/f', 'x', 0o644, ownerOf('alice', 'staff', 2n));
    const base = mkdirOf('/d');
    copyC.secondaryInput = 1n;
    copyA.input = 0n;
    copyB.input = 3n;
    copyC.input = 4n;
    chown.input = 5n;
    base.input = 6n;
    const op = create(FileOpSchema, { actions: [copyA, copyB, copyC, chown, base] });
    const sel = fileOpSelectors(op, 3);
    assert.equal(sel.has(0), false, 'input 0 is the base of the first action');
    assert.deepEqual(
      sel.get(1)?.selectors.map((s) => [s.path, s.followLinks, s.wildcard]),
      [
        ['/src', true, false],
        ['/src/*.txt', false, true],
      ],
    );
    const digestInput = ['/src/app', '/src/*.txt', '/src'].sort().reverse().join('\0');
    assert.equal(sel.get(1)?.digestInput.toString(), digestInput);
    assert.deepEqual(
      sel.get(2)?.selectors.map((s) => s.path),
      ['/etc/group', '/etc/passwd'],
    );
    assert.match(
      createHash('sha256')
        .update(sel.get(1)?.digestInput ?? '')
        .digest('hex'),
      /^[0-9a-f]{64}$/,
    );
  });
});
