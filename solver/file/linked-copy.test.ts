import assert from 'node:assert/strict';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import {
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { FileActionCopySchema, type FileActionCopy } from '../../proto/gen/pb/ops_pb.js';
import { applyFileAction, prepareUpperForCopy } from './index.js';
import { copyOf, listTree } from './test-support.js';

// Copies that hardlink instead of copying data (ApplyOptions.linkFiles), and the unmounted overlay
// upper such copies are written into (prepareUpperForCopy).

describe('linked copies', () => {
  let work = '';
  let src = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-linked-'));
    src = join(work, 'src');
    await mkdir(join(src, 'd/sub'), { recursive: true });
    await writeFile(join(src, 'd/a.txt'), 'a', { mode: 0o640 });
    await writeFile(join(src, 'd/sub/big'), Buffer.alloc(3 << 20, 1));
    await link(join(src, 'd/a.txt'), join(src, 'd/sub/a-again'));
    await symlink('a.txt', join(src, 'd/to-a'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('links every regular file (small, large, hardlinked) and keeps the rest as a copy would', async () => {
    const root = await mkdtemp(join(work, 'root-'));
    const plain = await mkdtemp(join(work, 'plain-'));
    await applyFileAction(copyOf('/d', '/out', { createDestPath: true }), {
      root,
      secondary: src,
      linkFiles: true,
    });
    await applyFileAction(copyOf('/d', '/out', { createDestPath: true }), { root: plain, secondary: src });
    assert.deepEqual(await listTree(root), await listTree(plain));
    for (const [from, to] of [
      ['d/a.txt', 'out/a.txt'],
      ['d/sub/big', 'out/sub/big'],
      ['d/a.txt', 'out/sub/a-again'],
    ] as const) {
      assert.equal((await lstat(join(root, to))).ino, (await lstat(join(src, from))).ino, to);
    }
    assert.ok((await lstat(join(root, 'out/to-a'))).isSymbolicLink());
    assert.notEqual((await lstat(join(plain, 'out/a.txt'))).ino, (await lstat(join(src, 'd/a.txt'))).ino);
  });

  it('copies instead of linking when the copy changes owner, mode or times', async () => {
    for (const options of [{ mode: 0o600 }, { modeStr: 'u+x' }, { timestamp: 1_000_000_000n }]) {
      const root = await mkdtemp(join(work, 'changed-'));
      await applyFileAction(copyOf('/d/a.txt', '/a.txt', options), { root, secondary: src, linkFiles: true });
      assert.notEqual((await lstat(join(root, 'a.txt'))).ino, (await lstat(join(src, 'd/a.txt'))).ino);
    }
    assert.equal((await lstat(join(src, 'd/a.txt'))).mode & 0o7777, 0o640, 'the source is untouched');
  });

  it('copies instead of linking where archives may be unpacked (ADD)', async () => {
    const root = await mkdtemp(join(work, 'add-'));
    await applyFileAction(copyOf('/d/a.txt', '/a.txt', { attemptUnpackDockerCompatibility: true }), {
      root,
      secondary: src,
      linkFiles: true,
    });
    assert.notEqual((await lstat(join(root, 'a.txt'))).ino, (await lstat(join(src, 'd/a.txt'))).ino);
  });

  it("never copies overlayfs's own xattrs into the target", async () => {
    const from = await mkdtemp(join(work, 'overlay-xattrs-'));
    await mkdir(join(from, 'dir'));
    setAttributeSync(join(from, 'dir'), 'trusted.overlay.opaque', 'y');
    setAttributeSync(join(from, 'dir'), 'user.kept', 'yes');
    const root = await mkdtemp(join(work, 'root-'));
    await applyFileAction(copyOf('/dir', '/dir'), { root, secondary: from });
    assert.equal(getAttributeSync(join(root, 'dir'), 'trusted.overlay.opaque'), null);
    assert.equal(getAttributeSync(join(root, 'dir'), 'user.kept')?.toString(), 'yes');
  });

  it('copies when the destination is on another filesystem', async () => {
    const root = await mkdtemp(join('/dev/shm', 'kiln-linked-'));
    try {
      await applyFileAction(copyOf('/d', '/out', { createDestPath: true }), {
        root,
        secondary: src,
        linkFiles: true,
      });
      const out = await lstat(join(root, 'out/a.txt'));
      const again = await lstat(join(root, 'out/sub/a-again'));
      assert.equal(out.ino, again.ino, 'a hardlink inside the tree stays one');
      assert.equal(out.nlink, 2);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('prepareUpperForCopy', () => {
  let work = '';
  let lower = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-upper-'));
    lower = join(work, 'lower');
    await mkdir(join(lower, 'usr/local'), { recursive: true });
    await mkdir(join(lower, 'app'));
    await mkdir(join(lower, 'full'));
    await writeFile(join(lower, 'full/x'), 'x');
    await writeFile(join(lower, 'file'), 'f');
    await symlink('usr', join(lower, 'link'));
    await chown(join(lower, 'usr'), 1234, 5678);
    await utimes(join(lower, 'usr'), 1_000_000, 1_000_000);
    await utimes(join(lower, 'usr/local'), 2_000_000, 2_000_000);
    setAttributeSync(join(lower, 'usr'), 'user.kiln', Buffer.from('yes'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  function copyTo(dest: string, src = '/x', allowWildcard = false): FileActionCopy {
    return create(FileActionCopySchema, { src, dest, allowWildcard });
  }

  async function upper(): Promise<string> {
    return mkdtemp(join(work, 'upper-'));
  }

  it('copies up the directories above an absent destination with their metadata and times', async () => {
    const dir = await upper();
    const rootMtime = (await lstat(dir)).mtimeMs;
    assert.equal(prepareUpperForCopy(lower, dir, copyTo('/usr/local/src/app/')), true);
    const usr = await lstat(join(dir, 'usr'));
    assert.deepEqual([usr.uid, usr.gid, usr.mtimeMs], [1234, 5678, 1_000_000_000]);
    assert.equal(getAttributeSync(join(dir, 'usr'), 'user.kiln')?.toString(), 'yes');
    assert.equal((await lstat(join(dir, 'usr/local'))).mtimeMs, 2_000_000_000);
    assert.deepEqual(await readdir(join(dir, 'usr/local')), [], 'absent paths are left to the copy');
    assert.ok(Math.abs((await lstat(dir)).mtimeMs - rootMtime) < 0.001, 'the root keeps its times');
  });

  it('accepts an empty existing destination and refuses what only the overlay could merge', async () => {
    const dir = await upper();
    assert.equal(prepareUpperForCopy(lower, dir, copyTo('/app/.')), true);
    assert.ok((await lstat(join(dir, 'app'))).isDirectory());
    for (const dest of ['/', '/full/', '/full', '/file', '/link/src', '/file/x']) {
      const other = await upper();
      assert.equal(prepareUpperForCopy(lower, other, copyTo(dest)), false, dest);
      assert.deepEqual(await readdir(other), [], `${dest}: nothing written`);
    }
    // A wildcard may match nothing, and that copy must leave the layer empty.
    const other = await upper();
    assert.equal(prepareUpperForCopy(lower, other, copyTo('/usr/src/', 'opt*', true)), false);
    assert.equal(prepareUpperForCopy(lower, other, copyTo('/usr/src/', 'opt', true)), true);
  });
});
