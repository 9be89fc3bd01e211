import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LocalContentStore, writeBlob } from '../content/index.js';
import { type Descriptor, type Digest, MediaType, sha256 } from '../oci/index.js';
import { busyboxRootfs } from '../test/fixtures/busybox.js';
import {
  chainIds,
  diffLayer,
  type LocalSnapshotter,
  mountAll,
  mountPointsUnder,
  unmountAll,
  unpack,
} from './index.js';
import { drivers, openDb } from './test-helpers.js';

const run = promisify(execFile);

interface Layer {
  readonly tar: Buffer;
  readonly blob: Buffer;
  readonly mediaType: string;
}

async function tarOf(dir: string): Promise<Buffer> {
  const { stdout } = await run(
    'tar',
    [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '--format=pax',
      '--pax-option=delete=atime,delete=ctime',
      '-C',
      dir,
      '-cf',
      '-',
      '.',
    ],
    { encoding: 'buffer', maxBuffer: 64 << 20 },
  );
  return stdout;
}

async function compressWith(tool: 'gzip' | 'zstd', file: string): Promise<Buffer> {
  const { stdout } = await run(tool, tool === 'gzip' ? ['-n', '-c', file] : ['-q', '-c', file], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return stdout;
}

/**
 * busybox split in three layers: the binary (gzip), the applet links and /etc (zstd), and a layer
 * deleting /home and adding /etc/kiln (uncompressed).
 */
async function busyboxLayers(work: string, marker: string): Promise<Layer[]> {
  const rootfs = await busyboxRootfs('amd64');
  const l1 = join(work, 'l1');
  const l2 = join(work, 'l2');
  const l3 = join(work, 'l3');
  await cp(rootfs, l1, { recursive: true, verbatimSymlinks: true });
  await mkdir(join(l2, 'bin'), { recursive: true });
  for (const name of await readdir(join(l1, 'bin'))) {
    if (name !== 'busybox')
      await cp(join(l1, 'bin', name), join(l2, 'bin', name), { verbatimSymlinks: true });
    if (name !== 'busybox') await unlink(join(l1, 'bin', name));
  }
  await cp(join(l1, 'etc'), join(l2, 'etc'), { recursive: true });
  await rm(join(l1, 'etc'), { recursive: true });
  await mkdir(join(l3, 'etc'), { recursive: true });
  await writeFile(join(l3, '.wh.home'), '');
  await writeFile(join(l3, 'etc', 'kiln'), marker);
  const tars = [await tarOf(l1), await tarOf(l2), await tarOf(l3)];
  const files = await Promise.all(
    tars.map(async (t, i) => {
      const f = join(work, `layer${i}.tar`);
      await writeFile(f, t);
      return f;
    }),
  );
  return [
    {
      tar: tars[0] as Buffer,
      blob: await compressWith('gzip', files[0] as string),
      mediaType: MediaType.ociLayerGzip,
    },
    {
      tar: tars[1] as Buffer,
      blob: await compressWith('zstd', files[1] as string),
      mediaType: MediaType.ociLayerZstd,
    },
    { tar: tars[2] as Buffer, blob: tars[2] as Buffer, mediaType: MediaType.ociLayer },
  ];
}

async function runInContainer(
  sn: LocalSnapshotter,
  key: string,
  work: string,
  args: string[],
): Promise<void> {
  const bundle = await mkdtemp(join(work, 'bundle-'));
  const rootfs = join(bundle, 'rootfs');
  const state = join(work, 'runc-state');
  const id = `kiln-snap-${process.pid}-${Date.now()}`;
  await mkdir(rootfs);
  await run('runc', ['spec', '--bundle', bundle]);
  const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
  };
  config.process.terminal = false;
  config.process.args = args;
  config.root = { path: 'rootfs', readonly: true };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  await sn.view(`${key}-run`, key);
  await mountAll(await sn.mounts(`${key}-run`), rootfs);
  try {
    await run('runc', ['--root', state, 'run', '--bundle', bundle, id]);
  } finally {
    await run('runc', ['--root', state, 'delete', '-f', id]).catch(() => undefined);
    await unmountAll(rootfs);
    await sn.remove(`${key}-run`);
  }
}

for (const driver of drivers) {
  describe(`unpack (${driver.name})`, () => {
    it('unpacks busybox layers once into a chain by chain ID, shares the base, and runs it with runc', async () => {
      const work = await mkdtemp(join(tmpdir(), 'kiln-unpack-'));
      const db = openDb(work);
      try {
        const content = await LocalContentStore.open({ root: join(work, 'content'), db });
        const image = async (marker: string) => {
          const layers = await busyboxLayers(await mkdtemp(join(work, 'layers-')), marker);
          const descriptors: Descriptor[] = [];
          for (const l of layers)
            descriptors.push(await writeBlob(content, l.blob, { mediaType: l.mediaType }));
          return { descriptors, diffIds: layers.map((l) => sha256(l.tar)) };
        };
        const one = await image('one');
        const sn = driver.make(join(work, 'snapshots'), db);
        const ids = chainIds(one.diffIds);
        assert.equal(ids[0], one.diffIds[0]);
        assert.equal(ids[1], sha256(`${one.diffIds[0]} ${one.diffIds[1]}`));

        const [first, second] = await Promise.all([
          unpack({ snapshotter: sn, content, layers: one.descriptors, diffIds: one.diffIds }),
          unpack({ snapshotter: sn, content, layers: one.descriptors, diffIds: one.diffIds }),
        ]);
        assert.equal(first.key, ids[2]);
        assert.deepEqual(second.chainIds, ids);
        assert.equal(first.applied + second.applied, 3, 'concurrent unpacks share each layer');
        assert.equal((await sn.stat(ids[2] as string)).parent, ids[1]);
        assert.equal(
          (await unpack({ snapshotter: sn, content, ...{ layers: one.descriptors, diffIds: one.diffIds } }))
            .applied,
          0,
        );

        const two = await image('two');
        const shared = await unpack({
          snapshotter: sn,
          content,
          layers: two.descriptors,
          diffIds: two.diffIds,
        });
        assert.equal(shared.applied, 1, 'the base chain is shared');
        assert.deepEqual(shared.chainIds.slice(0, 2), ids.slice(0, 2));

        for (const [i, compression] of (['gzip', 'zstd', 'uncompressed'] as const).entries()) {
          const blob = await diffLayer(sn, ids[i] as string, { compression, content });
          assert.equal(blob.reused, true);
          assert.deepEqual(blob.descriptor, one.descriptors[i]);
          assert.equal(blob.diffId, one.diffIds[i]);
        }

        await runInContainer(sn, first.key, work, ['/bin/busybox', 'true']);
        await runInContainer(sn, first.key, work, [
          '/bin/sh',
          '-c',
          'test ! -e /home && test "$(cat /etc/kiln)" = one',
        ]);
        await runInContainer(sn, shared.key, work, ['/bin/sh', '-c', 'test "$(cat /etc/kiln)" = two']);
        await assert.rejects(runInContainer(sn, shared.key, work, ['/bin/sh', '-c', 'test -e /home']), {
          code: 1,
        });
        await sn.close();
      } finally {
        db.close();
        assert.deepEqual(await mountPointsUnder(work), []);
        await rm(work, { recursive: true, force: true });
      }
    });

    it('refuses a layer whose diffID does not match and leaves nothing behind', async () => {
      const work = await mkdtemp(join(tmpdir(), 'kiln-unpack-'));
      const db = openDb(work);
      try {
        const content = await LocalContentStore.open({ root: join(work, 'content'), db });
        const layers = await busyboxLayers(work, 'x');
        const descriptors: Descriptor[] = [];
        for (const l of layers)
          descriptors.push(await writeBlob(content, l.blob, { mediaType: l.mediaType }));
        const diffIds: Digest[] = layers.map((l) => sha256(l.tar));
        const wrong = [...diffIds];
        wrong[1] = sha256('not this layer');
        const sn = driver.make(join(work, 'snapshots'), db);
        await assert.rejects(unpack({ snapshotter: sn, content, layers: descriptors, diffIds: wrong }), {
          code: 'KILN_SNAPSHOTTER_DIFFID_MISMATCH',
          expected: wrong[1],
          actual: diffIds[1],
        });
        const keys: string[] = [];
        await sn.walk((info) => void keys.push(info.key));
        assert.deepEqual(keys, [diffIds[0]]);
        await assert.rejects(
          unpack({ snapshotter: sn, content, layers: descriptors, diffIds: diffIds.slice(1) }),
          {
            kind: 'invalid-argument',
          },
        );
        await assert.rejects(
          unpack({ snapshotter: sn, content, layers: descriptors, diffIds, signal: AbortSignal.abort() }),
          { name: 'AbortError' },
        );
        const left: string[] = [];
        await sn.walk((info) => void left.push(info.key));
        assert.deepEqual(left, [diffIds[0]]);
        await sn.close();
      } finally {
        db.close();
        assert.deepEqual(await mountPointsUnder(work), []);
        await rm(work, { recursive: true, force: true });
      }
    });
  });
}
