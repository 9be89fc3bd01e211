import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { changeOneFile, contextTree, filePath, fileSizes, fullContext } from './index.js';

async function walk(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await stat(join(e.parentPath, e.name))).size;
  }
  return { files, bytes };
}

describe('context tree', () => {
  it('sizes the issue shape to 5,000 files and 59 MB, mostly small', () => {
    const sizes = fileSizes(fullContext);
    assert.equal(sizes.length, 5000);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 59e6) < 59e4, `total ${total}`);
    assert.ok(sizes.filter((s) => s < 32 * 1024).length > 4500);
  });

  it('makes the same tree every time, and one changed file can be put back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-bench-tree-'));
    try {
      const shape = { files: 250, bytes: 400_000 };
      const dir = await contextTree(join(root, 'a'), shape);
      const again = await contextTree(join(root, 'b'), shape);
      const counted = await walk(dir);
      assert.equal(counted.files, 250);
      assert.ok(Math.abs(counted.bytes - 400_000) < 4_000, `bytes ${counted.bytes}`);
      const first = join(dir, filePath(0));
      assert.deepEqual(await readFile(first), await readFile(join(again, filePath(0))));
      const original = await readFile(first);
      const restore = await changeOneFile(dir, 'x');
      assert.notDeepEqual(await readFile(first), original);
      await restore();
      assert.deepEqual(await readFile(first), original);
      assert.equal(await contextTree(join(root, 'a'), shape), dir, 'reused, not rebuilt');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
