import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createSnapshotter, mountAll, mountPointsUnder, unmountAll } from './index.js';
import { openDb } from './test-helpers.js';

describe('createSnapshotter', () => {
  it('picks overlayfs where it mounts, native when asked, and leaves no probe behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-create-'));
    const db = openDb(dir);
    try {
      const auto = await createSnapshotter({ kind: 'auto', root: join(dir, 'a'), db });
      assert.equal(auto.driver, 'overlayfs');
      assert.deepEqual(await readdir(join(dir, 'a')), []);
      const native = await createSnapshotter({ kind: 'native', root: join(dir, 'n'), db });
      assert.equal(native.driver, 'native');
      const overlay = await createSnapshotter({ kind: 'overlayfs', root: join(dir, 'o'), db });
      assert.equal(overlay.driver, 'overlayfs');
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('falls back to native (auto) or refuses (overlayfs) where overlayfs cannot mount', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-create-'));
    const db = openDb(dir);
    const merged = join(dir, 'merged');
    try {
      for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
      // An overlay cannot be the upper layer of another overlay.
      await mountAll(
        [
          {
            type: 'overlay',
            source: 'overlay',
            options: [
              `lowerdir=${join(dir, 'lower')}`,
              `upperdir=${join(dir, 'upper')}`,
              `workdir=${join(dir, 'work')}`,
            ],
          },
        ],
        merged,
      );
      const auto = await createSnapshotter({ kind: 'auto', root: join(merged, 'snapshots'), db });
      assert.equal(auto.driver, 'native');
      await assert.rejects(createSnapshotter({ kind: 'overlayfs', root: join(merged, 'snapshots'), db }), {
        code: 'KILN_SNAPSHOTTER_OVERLAY_UNSUPPORTED',
        kind: 'failed-precondition',
      });
      await auto.prepare('works-anyway');
      assert.deepEqual(await mountPointsUnder(join(merged, 'snapshots')), []);
    } finally {
      await unmountAll(merged);
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
