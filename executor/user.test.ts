import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidProcessError, UserNotFoundError, resolveInRoot, resolveUser } from './index.js';

describe('resolveUser', () => {
  let root: string;
  let bare: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-user-'));
    bare = await mkdtemp(join(tmpdir(), 'kiln-user-bare-'));
    await mkdir(join(root, 'etc'));
    await writeFile(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\n# comment\nnobody:x:65534:65534::/:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    await writeFile(
      join(root, 'etc', 'group'),
      'root:x:0:\nstaff:x:50:alice,bob\ndocker:x:999:alice\nalice:x:1000:\nnogroup:x:65534:\n',
    );
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(bare, { recursive: true, force: true });
  });

  it('resolves names, numbers and pairs', async () => {
    assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0] });
    assert.deepEqual(await resolveUser(root, 'alice'), {
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 50, 999],
    });
    assert.deepEqual(await resolveUser(root, '1000'), {
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 50, 999],
    });
    assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [0] });
    assert.deepEqual(await resolveUser(root, 'alice:staff'), { uid: 1000, gid: 50, additionalGids: [50] });
    assert.deepEqual(await resolveUser(root, 'nobody:7'), { uid: 65534, gid: 7, additionalGids: [7] });
    assert.deepEqual(await resolveUser(root, '5:6'), { uid: 5, gid: 6, additionalGids: [6] });
  });

  it('names what is missing', async () => {
    await assert.rejects(
      resolveUser(root, 'mallory'),
      (e: unknown) => e instanceof UserNotFoundError && /no matching entries in passwd/.test(e.message),
    );
    await assert.rejects(
      resolveUser(root, 'alice:wheel'),
      (e: unknown) => e instanceof UserNotFoundError && /group "wheel"/.test(e.message),
    );
    await assert.rejects(resolveUser(bare, 'alice'), /the rootfs has no \/etc\/passwd/);
    await assert.rejects(resolveUser(root, ':5'), InvalidProcessError);
  });

  it('works without passwd and group files for numeric users', async () => {
    assert.deepEqual(await resolveUser(bare, ''), { uid: 0, gid: 0, additionalGids: [0] });
    assert.deepEqual(await resolveUser(bare, '12'), { uid: 12, gid: 0, additionalGids: [0] });
    assert.deepEqual(await resolveUser(bare, '12:34'), { uid: 12, gid: 34, additionalGids: [34] });
  });
});

describe('resolveInRoot', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-rootpath-'));
    await mkdir(join(root, 'real', 'dir'), { recursive: true });
    await symlink('/real', join(root, 'abs'));
    await symlink('../../../../..', join(root, 'up'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('follows symlinks with the root as /', async () => {
    assert.equal(await resolveInRoot(root, '/abs/dir'), join(root, 'real', 'dir'));
    assert.equal(await resolveInRoot(root, 'up/etc/passwd'), join(root, 'etc', 'passwd'));
    assert.equal(await resolveInRoot(root, '/../../x/../y'), join(root, 'y'));
    assert.equal(await resolveInRoot(root, '/'), root);
    assert.equal(await resolveInRoot(root, '/missing/a/../b'), join(root, 'missing', 'b'));
  });

  it('refuses symlink loops', async () => {
    await assert.rejects(resolveInRoot(root, '/loop1/x'), InvalidProcessError);
  });
});
