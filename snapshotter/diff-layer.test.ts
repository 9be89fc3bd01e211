import { setAttribute } from '@napi-rs/xattr';
import type Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  lchown,
  link,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  writeFile,
  lstat,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LocalContentStore } from '../content/index.js';
import type { Compression } from '../oci/index.js';
import {
  applyLayer,
  diffLayer,
  layerTar,
  type LocalSnapshotter,
  mountPointsUnder,
  readTar,
  withTempMount,
} from './index.js';
import { drivers, listTree, openDb } from './test-helpers.js';

const run = promisify(execFile);
const binary = Buffer.from([0xff, 0xfe, 0x80, 0x00]);
/** VFS_CAP_REVISION_2 with the effective flag; permitted = CAP_NET_RAW | CAP_SETFCAP (0x80002000). */
const capability = Buffer.from([1, 0, 0, 2, 0x00, 0x20, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const longDir = 'long/' + 'd'.repeat(120);
const fixedTime = 1_600_000_000;

/** Deterministic pseudo-random bytes: the same on every run. */
function noise(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, block = Buffer.from('kiln'); i < size; i += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, i);
  }
  return out;
}

async function setTimes(root: string): Promise<void> {
  const visit = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if ((await lstat(path)).isDirectory()) await visit(path);
      await lutimes(path, fixedTime, fixedTime);
    }
  };
  await visit(root);
}

/** A tree with every kind of thing a layer carries. */
async function populate(d: string): Promise<void> {
  await mkdir(join(d, 'dir/nested/deep'), { recursive: true, mode: 0o750 });
  await writeFile(join(d, 'dir/nested/deep/file'), 'deep');
  await mkdir(join(d, 'dir2'));
  await writeFile(join(d, 'dir2/a'), 'a');
  await writeFile(join(d, 'dir2/b'), 'b');
  await writeFile(join(d, 'plain'), 'plain');
  await writeFile(join(d, 'setuid'), '#!/bin/sh\n');
  await chmod(join(d, 'setuid'), 0o4755);
  await writeFile(join(d, 'private'), 'secret', { mode: 0o600 });
  await lchown(join(d, 'private'), 3_000_000, 3_000_001);
  await writeFile(join(d, 'xattr'), 'attrs');
  await setAttribute(join(d, 'xattr'), 'user.bin', binary);
  await setAttribute(join(d, 'xattr'), 'security.capability', capability);
  await symlink('plain', join(d, 'rel-link'));
  await symlink('/plain', join(d, 'abs-link'));
  await lchown(join(d, 'abs-link'), 3_000_000, 3_000_000);
  await writeFile(join(d, 'hard-a'), 'shared');
  await link(join(d, 'hard-a'), join(d, 'hard-b'));
  await run('mkfifo', [join(d, 'fifo')]);
  await run('mknod', [join(d, 'null'), 'c', '1', '3']);
  await mkdir(join(d, 'empty'));
  await mkdir(join(d, longDir), { recursive: true });
  await writeFile(join(d, longDir, 'f'.repeat(90)), 'long');
  await writeFile(join(d, 'big'), noise(3 << 20));
  await setTimes(d);
}

/** Deletions, an opaque directory, type changes, metadata changes and a new hardlink. */
async function change(d: string): Promise<void> {
  await rm(join(d, 'plain'));
  await rm(join(d, 'dir/nested'), { recursive: true });
  await rm(join(d, 'dir2'), { recursive: true });
  await mkdir(join(d, 'dir2'));
  await writeFile(join(d, 'dir2/c'), 'c');
  await writeFile(join(d, 'setuid'), '#!/bin/sh\nexit 0\n');
  await chmod(join(d, 'setuid'), 0o4755);
  await chmod(join(d, 'private'), 0o640);
  await lchown(join(d, 'xattr'), 1000, 1000);
  await setAttribute(join(d, 'xattr'), 'user.bin', Buffer.from([0x80, 0x81]));
  await rm(join(d, 'rel-link'));
  await mkdir(join(d, 'rel-link'));
  await writeFile(join(d, 'rel-link/inside'), 'in');
  await rm(join(d, 'empty'), { recursive: true });
  await writeFile(join(d, 'empty'), 'now a file');
  await link(join(d, 'hard-a'), join(d, 'hard-c'));
}

async function tarNames(sn: LocalSnapshotter, key: string): Promise<string[]> {
  const names: string[] = [];
  for await (const { entry } of readTar(layerTar(await sn.changeSource(key)))) names.push(entry.name);
  return names;
}

interface Env {
  readonly base: string;
  readonly db: Database.Database;
  readonly content: LocalContentStore;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'kiln-diff-'));
  const db = openDb(base);
  try {
    const content = await LocalContentStore.open({ root: join(base, 'content'), db });
    await fn({ base, db, content });
  } finally {
    db.close();
    assert.deepEqual(await mountPointsUnder(base), []);
    await rm(base, { recursive: true, force: true });
  }
}

/** Prepares `key` on `parent`, lets `fn` change it through a mount, commits it as `name`. */
async function build(
  sn: LocalSnapshotter,
  name: string,
  parent: string | undefined,
  fn: (d: string) => Promise<void>,
): Promise<void> {
  await sn.prepare(`${name}-active`, parent);
  await withTempMount(await sn.mounts(`${name}-active`), fn);
  await sn.commit(name, `${name}-active`);
}

async function tree(sn: LocalSnapshotter, key: string, mtimes: boolean): Promise<string[]> {
  return withTempMount(await sn.mounts(key), (d) => listTree(d, { mtimes }));
}

for (const source of drivers) {
  describe(`layer diff from ${source.name}`, () => {
    for (const target of drivers) {
      it(`round-trips through apply on ${target.name}: content, modes, owners, binary xattrs, links, devices, deletions`, async () => {
        await withEnv(async ({ base, db, content }) => {
          const from = source.make(join(base, 'from'), db);
          const to = target.make(join(base, 'to'), db);
          await build(from, 'base', undefined, populate);
          await build(from, 'child', 'base', change);
          const names = await tarNames(from, 'child');
          for (const expected of ['.wh.plain', 'dir/.wh.nested', 'rel-link/', 'rel-link/inside', 'hard-c']) {
            assert.ok(names.includes(expected), `${expected} in ${names.join(' ')}`);
          }
          assert.ok(
            names.includes(source.name === 'overlayfs' ? 'dir2/.wh..wh..opq' : 'dir2/.wh.a'),
            names.join(' '),
          );
          assert.ok(!names.includes('big'), 'unchanged files stay out of the diff');
          for (const [key, parent, compression] of [
            ['base', undefined, 'gzip'],
            ['child', 'base', 'zstd'],
          ] as const) {
            const blob = await diffLayer(from, key, { compression, content });
            await to.prepare(`copy-${key}-active`, parent && `copy-${parent}`);
            const applied = await applyLayer(
              to,
              `copy-${key}-active`,
              await content.reader(blob.descriptor.digest),
            );
            assert.equal(applied.diffId, blob.diffId);
            await to.commit(`copy-${key}`, `copy-${key}-active`);
          }
          const baseTree = await tree(from, 'base', true);
          assert.deepEqual(await tree(to, 'copy-base', true), baseTree);
          assert.ok(
            baseTree.some(
              (l) =>
                l.startsWith('xattr ') &&
                l.includes('user.bin=fffe8000') &&
                l.includes('security.capability=0100000200200080'),
            ),
          );
          const expected = await tree(from, 'child', false);
          assert.deepEqual(await tree(to, 'copy-child', false), expected);
          // chown drops file capabilities, so only the changed user.bin is left on the child's file.
          assert.ok(expected.some((l) => l.startsWith('xattr ') && l.endsWith('user.bin=8081')));
          assert.ok(expected.some((l) => l.startsWith('private ') && l.includes('3000000:3000001')));
          assert.ok(expected.some((l) => l.startsWith('hard-c ') && l.includes('link=hard-a')));
          await from.close();
          await to.close();
        });
      });
    }

    it('is deterministic, computed once per compression, and decodable by gzip, zstd and tar', async () => {
      await withEnv(async ({ base, db, content }) => {
        const sn = source.make(join(base, 'snapshots'), db);
        await build(sn, 'one', undefined, populate);
        await build(sn, 'two', undefined, populate);
        const digests = new Map<Compression, string>();
        for (const compression of ['gzip', 'zstd', 'uncompressed'] as const) {
          const one = await diffLayer(sn, 'one', { compression, content });
          const two = await diffLayer(sn, 'two', { compression, content });
          assert.equal(
            one.descriptor.digest,
            two.descriptor.digest,
            `${compression} digests differ between equal trees`,
          );
          assert.equal(one.reused, false);
          assert.equal(one.diffId, two.diffId);
          digests.set(compression, one.descriptor.digest);
          const again = await diffLayer(sn, 'one', { compression, content });
          assert.deepEqual(again, { ...one, reused: true });
          const file = join(base, `layer.${compression}`);
          const chunks: Buffer[] = [];
          for await (const c of await content.reader(one.descriptor.digest)) chunks.push(c as Buffer);
          await writeFile(file, Buffer.concat(chunks));
          if (compression === 'gzip') await run('gzip', ['-t', file]);
          if (compression === 'zstd') await run('zstd', ['-t', '-q', file]);
          if (compression === 'uncompressed') assert.equal(one.descriptor.digest, one.diffId);
          const { stdout } = await run('tar', [compression === 'zstd' ? '--zstd' : '-a', '-tf', file]);
          assert.ok(stdout.includes('dir/nested/deep/file'));
        }
        const gzip = await diffLayer(sn, 'one', { compression: 'gzip', content });
        assert.equal(gzip.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
        assert.equal(gzip.descriptor.size, (await content.info(gzip.descriptor.digest)).size);
        await content.delete(gzip.descriptor.digest);
        const recomputed = await diffLayer(sn, 'one', { compression: 'gzip', content, oci: false });
        assert.equal(recomputed.reused, false);
        assert.equal(recomputed.descriptor.digest, digests.get('gzip'));
        assert.equal(recomputed.descriptor.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
        const [a, b] = await Promise.all([
          diffLayer(sn, 'two', { compression: 'gzip', content, level: 1 }),
          diffLayer(sn, 'two', { compression: 'gzip', content, level: 1 }),
        ]);
        assert.deepEqual(a, b);
        await assert.rejects(diffLayer(sn, 'missing', { compression: 'gzip', content }), {
          kind: 'not-found',
        });
        await sn.prepare('active');
        await assert.rejects(diffLayer(sn, 'active', { compression: 'gzip', content }), {
          kind: 'failed-precondition',
        });
        await sn.close();
      });
    });
  });
}
