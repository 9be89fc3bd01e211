import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OverlaySnapshotter, withTempMount } from './index.js';
import { snapshotterSuite, withSnapshotter } from './testsuite.js';

snapshotterSuite('OverlaySnapshotter', async ({ root, db }) => new OverlaySnapshotter({ root, db }));

describe('OverlaySnapshotter chains longer than one mount option page', () => {
  it('flattens an ancestor once per grid of layers and shows the same files', async () => {
    const budget = 600;
    await withSnapshotter(
      async ({ root, db }) => new OverlaySnapshotter({ root, db, lowerdirBudget: budget }),
      async ({ sn, root }) => {
        const expected = new Set<string>();
        let parent: string | undefined;
        for (let i = 1; i <= 30; i++) {
          await sn.prepare(`a${i}`, parent);
          await withTempMount(await sn.mounts(`a${i}`), async (d) => {
            await writeFile(join(d, `f${i}`), String(i));
            if (i % 5 === 0) await rm(join(d, `f${i - 1}`));
          });
          expected.add(`f${i}`);
          if (i % 5 === 0) expected.delete(`f${i - 1}`);
          await sn.commit(`l${i}`, `a${i}`);
          parent = `l${i}`;
        }
        const mounts = await sn.prepare('top', 'l30');
        const lowerdir = mounts[0]?.options.find((o) => o.startsWith('lowerdir='));
        assert.ok(lowerdir && lowerdir.length - 'lowerdir='.length <= budget, lowerdir);
        assert.ok(lowerdir.includes('/flat'), 'a flattened ancestor is used');
        const flats = (await readdir(root)).filter((id) => existsSync(join(root, id, 'flat')));
        assert.ok(flats.length >= 1 && flats.length <= 10, `${flats.length} flattened copies`);
        await withTempMount(mounts, async (d) => {
          assert.deepEqual(new Set(await readdir(d)), expected);
        });
        await withTempMount(await sn.mounts('l30'), async (d) => {
          assert.deepEqual(new Set(await readdir(d)), expected);
        });
        await withTempMount(await sn.view('v12', 'l12'), async (d) => {
          assert.deepEqual(
            (await readdir(d)).sort(),
            ['f1', 'f10', 'f11', 'f12', 'f2', 'f3', 'f5', 'f6', 'f7', 'f8'].sort(),
          );
        });
        await sn.remove('v12');
        await sn.remove('top');
        for (let i = 30; i >= 1; i--) await sn.remove(`l${i}`);
        assert.deepEqual(await readdir(root), ['tmp-mounts']);
        assert.deepEqual(await readdir(join(root, 'tmp-mounts')), []);
      },
    );
  });
});
