import { getAttribute } from '@napi-rs/xattr';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { sha256 } from '../oci/index.js';
import { applyLayer, type LocalSnapshotter, mountPointsUnder, withTempMount } from './index.js';
import { chunks, craftTar, drivers, openDb } from './test-helpers.js';

const lower = craftTar([
  { name: 'a', data: 'a' },
  { name: 'd', type: 'dir' },
  { name: 'd/x', data: 'x' },
  { name: 'etc', type: 'dir' },
  { name: 'etc/passwd', data: 'root' },
  { name: 'shared', data: 'shared', mode: 0o640 },
  { name: 'was-dir', type: 'dir' },
  { name: 'was-dir/inside', data: 'i' },
  { name: 'was-file', data: 'f' },
]);

async function withParent(
  driver: (typeof drivers)[number],
  fn: (
    sn: LocalSnapshotter,
    view: <T>(key: string, f: (d: string) => Promise<T>) => Promise<T>,
  ) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-apply-'));
  const db = openDb(dir);
  const sn = driver.make(join(dir, 'snapshots'), db);
  try {
    await sn.prepare('p-active');
    await applyLayer(sn, 'p-active', chunks(lower));
    await sn.commit('p', 'p-active');
    await sn.prepare('a', 'p');
    await fn(sn, async (key, f) => withTempMount(await sn.mounts(key), f));
  } finally {
    await sn.close();
    db.close();
    assert.deepEqual(await mountPointsUnder(dir), []);
    await rm(dir, { recursive: true, force: true });
  }
}

for (const driver of drivers) {
  describe(`applyLayer on ${driver.name}`, () => {
    it('turns whiteouts into overlay whiteouts or deletions, and hides lower entries', async () => {
      await withParent(driver, async (sn, view) => {
        const layer = await sn.writableLayer('a');
        await applyLayer(
          sn,
          'a',
          chunks(craftTar([{ name: '.wh.a' }, { name: 'd/.wh..wh..opq' }, { name: 'd/y', data: 'y' }])),
        );
        if (driver.name === 'overlayfs') {
          const whiteout = await lstat(join(layer.dir, 'a'));
          assert.ok(whiteout.isCharacterDevice() && whiteout.rdev === 0);
          assert.equal((await getAttribute(join(layer.dir, 'd'), 'trusted.overlay.opaque'))?.toString(), 'y');
        }
        await view('a', async (d) => {
          assert.deepEqual((await readdir(d)).sort(), ['d', 'etc', 'shared', 'was-dir', 'was-file']);
          assert.deepEqual(await readdir(join(d, 'd')), ['y']);
        });
        await view('p', async (d) => assert.deepEqual((await readdir(join(d, 'd'))).sort(), ['x']));
      });
    });

    it('reads gzip (multi-member), zstd and plain tar alike and reports the diffID', async () => {
      await withParent(driver, async (sn) => {
        const tar = craftTar([
          { name: 'big', data: Buffer.alloc(300_000, 7) },
          { name: 'small', data: 's' },
        ]);
        const half = 512 * 300;
        const multi = Buffer.concat([gzipSync(tar.subarray(0, half)), gzipSync(tar.subarray(half))]);
        for (const [i, blob] of [multi, zstdCompress(tar), tar].entries()) {
          await sn.prepare(`c${i}`, 'p');
          const result = await applyLayer(sn, `c${i}`, chunks(blob, 1000));
          assert.deepEqual(result, { diffId: sha256(tar), size: tar.length });
          await withTempMount(await sn.mounts(`c${i}`), async (d) => {
            assert.equal((await lstat(join(d, 'big'))).size, 300_000);
          });
        }
      });
    });

    it('restores big ids, nanosecond mtimes, directory times, devices, fifos and setuid bits', async () => {
      await withParent(driver, async (sn, view) => {
        await applyLayer(
          sn,
          'a',
          chunks(
            craftTar([
              { name: 'tree', type: 'dir', mtime: 1_500_000_000 },
              { name: 'tree/owned', data: 'o', uid: 3_000_000, gid: 400_000, mode: 0o4750 },
              { name: 'tree/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
              { name: 'tree/pipe', type: 'fifo', mode: 0o600 },
              { name: 'tree/link', type: 'symlink', linkname: '../etc/passwd', uid: 3_000_000 },
            ]),
          ),
        );
        await view('a', async (d) => {
          const owned = await lstat(join(d, 'tree/owned'));
          assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [3_000_000, 400_000, 0o4750]);
          assert.equal((await lstat(join(d, 'tree'))).mtimeMs, 1_500_000_000_000);
          const dev = await lstat(join(d, 'tree/null'));
          assert.ok(dev.isCharacterDevice() && dev.rdev === 0x103);
          assert.ok((await lstat(join(d, 'tree/pipe'))).isFIFO());
          assert.equal((await lstat(join(d, 'tree/link'))).uid, 3_000_000);
          assert.equal(await readFile(join(d, 'tree/link'), 'utf8'), 'root');
        });
      });
    });

    it('keeps sub-second mtimes from PAX records', async () => {
      await withParent(driver, async (sn, view) => {
        // A PAX mtime is what GNU tar writes for sub-second times; built here by hand.
        const record = '30 mtime=1700000000.123456789\n';
        const pax = craftTar([{ name: 'PaxHeaders/f', data: record }]).subarray(0, 1024);
        pax.write('x', 156, 'latin1');
        let sum = 0;
        pax.fill(0x20, 148, 156);
        for (const b of pax.subarray(0, 512)) sum += b;
        pax.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
        const tar = Buffer.concat([pax, craftTar([{ name: 'f', data: 'f' }])]);
        await applyLayer(sn, 'a', chunks(tar));
        await view('a', async (d) => {
          const ms = (await lstat(join(d, 'f'))).mtimeMs;
          assert.ok(Math.abs(ms - 1_700_000_000_123.456) < 0.01, String(ms));
        });
      });
    });

    it('links to a file of a lower layer without touching it, and merges re-declared directories', async () => {
      await withParent(driver, async (sn, view) => {
        await applyLayer(
          sn,
          'a',
          chunks(
            craftTar([
              { name: 'etc', type: 'dir', mode: 0o700 },
              { name: 'etc/group', data: 'root:x:0:' },
              { name: 'shared-link', type: 'link', linkname: 'shared' },
              { name: 'was-dir', data: 'now a file' },
              { name: 'was-file', type: 'dir' },
              { name: 'was-file/inside', data: 'now a dir' },
            ]),
          ),
        );
        await view('a', async (d) => {
          assert.deepEqual((await readdir(join(d, 'etc'))).sort(), ['group', 'passwd']);
          assert.equal((await lstat(join(d, 'etc'))).mode & 0o7777, 0o700);
          const [a, b] = await Promise.all([lstat(join(d, 'shared')), lstat(join(d, 'shared-link'))]);
          assert.equal(a.ino, b.ino);
          assert.equal(a.mode & 0o777, 0o640);
          assert.equal(await readFile(join(d, 'was-dir'), 'utf8'), 'now a file');
          assert.deepEqual(await readdir(join(d, 'was-file')), ['inside']);
        });
        await view('p', async (d) => {
          assert.equal((await lstat(join(d, 'shared'))).nlink, 1);
          assert.equal((await lstat(join(d, 'etc'))).mode & 0o7777, 0o755);
          assert.deepEqual(await readdir(join(d, 'was-dir')), ['inside']);
        });
      });
    });

    it('stops when its signal aborts mid-stream', async () => {
      await withParent(driver, async (sn) => {
        const controller = new AbortController();
        const tar = craftTar(
          Array.from({ length: 200 }, (_, i) => ({ name: `f${i}`, data: 'x'.repeat(1000) })),
        );
        const source = async function* () {
          yield tar.subarray(0, 50_000);
          controller.abort();
          yield tar.subarray(50_000);
        };
        await assert.rejects(applyLayer(sn, 'a', source(), { signal: controller.signal }), {
          name: 'AbortError',
        });
      });
    });
  });
}
