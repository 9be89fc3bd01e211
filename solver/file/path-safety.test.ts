import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import {
  FileActionError,
  TooManySymlinksError,
  applyFileAction,
  readUserDatabase,
  resolveInRoot,
} from './index.js';
import { copyOf, listTree, mkdirOf, mkfileOf, ownerOf, rmOf, symlinkOf } from './test-support.js';

// Hostile trees: links to absolute host paths, to ../../.., to /etc, loops. Whatever the actions
// do, nothing outside the action's root may change and nothing outside the two trees may be read.

describe('path safety', () => {
  let work = '';
  let outside = '';
  let root = '';
  let source = '';
  let outsideBefore = '';
  let etcPasswd = '';

  const up = '../../../../../../../../..';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-safety-'));
    outside = join(work, 'outside');
    root = join(work, 'root');
    source = join(work, 'source');
    await mkdir(join(outside, 'victim'), { recursive: true });
    await writeFile(join(outside, 'secret.txt'), 'secret\n');
    await mkdir(root);
    await mkdir(source);
    for (const dir of [root, source]) {
      await symlink(outside, join(dir, 'evil-abs'));
      await symlink(`${up}${outside}`, join(dir, 'evil-rel'));
      await symlink('/etc', join(dir, 'etc-link'));
      await symlink('loop-b', join(dir, 'loop-a'));
      await symlink('loop-a', join(dir, 'loop-b'));
      await symlink('../..', join(dir, 'updir'));
      await symlink(join(outside, 'secret.txt'), join(dir, 'leak-abs'));
      await symlink(`${up}${outside}/secret.txt`, join(dir, 'leak-rel'));
    }
    await writeFile(join(source, 'payload.txt'), 'payload\n');
    outsideBefore = JSON.stringify(await listTree(outside));
    etcPasswd = hash(await readFile('/etc/passwd'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function assertOutsideUntouched(): Promise<void> {
    assert.equal(JSON.stringify(await listTree(outside)), outsideBefore);
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'secret\n');
    assert.equal(hash(await readFile('/etc/passwd')), etcPasswd);
  }

  it('resolves every hostile path inside the root', async () => {
    for (const p of [
      '/evil-abs/x',
      '/evil-rel/x',
      '/etc-link/passwd',
      '/updir/updir/x',
      '/leak-abs',
      '/leak-rel',
      '/../../x',
    ]) {
      const r = await resolveInRoot(root, p);
      assert.ok(r.host === root || r.host.startsWith(`${root}/`), `${p} → ${r.host}`);
      assert.ok(!r.path.includes('..'));
    }
    assert.equal((await resolveInRoot(root, '/evil-abs/x')).host, join(root, outside, 'x'));
    assert.equal((await resolveInRoot(root, '/updir/y')).host, join(root, 'y'));
    await assert.rejects(resolveInRoot(root, '/loop-a/x'), TooManySymlinksError);
  });

  it('writes through links land inside the root', async () => {
    const actions = [
      copyOf('/payload.txt', '/evil-abs/copied.txt', { createDestPath: true }),
      copyOf('/payload.txt', '/evil-rel/', { createDestPath: true }),
      copyOf('/payload.txt', '/etc-link/passwd', { createDestPath: true }),
      mkfileOf('/evil-abs/secret.txt', 'overwritten'),
      mkfileOf('/leak-rel', 'overwritten'),
      mkdirOf('/evil-rel/victim/deeper', 0o755, true),
      symlinkOf('/x', '/evil-abs/victim/lnk'),
    ];
    for (const a of actions) await applyFileAction(a, { root, secondary: source });
    await assertOutsideUntouched();
    assert.equal(await readFile(join(root, outside, 'copied.txt'), 'utf8'), 'payload\n');
    assert.equal(await readFile(join(root, outside, 'payload.txt'), 'utf8'), 'payload\n');
    assert.equal(await readFile(join(root, 'etc/passwd'), 'utf8'), 'payload\n');
    assert.equal(await readFile(join(root, outside, 'secret.txt'), 'utf8'), 'overwritten');
    assert.ok((await lstat(join(root, outside, 'victim/deeper'))).isDirectory());
    assert.ok((await lstat(join(root, outside, 'victim/lnk'))).isSymbolicLink());
  });

  it('removals through links stay inside the root', async () => {
    await applyFileAction(rmOf('/evil-abs/secret.txt'), { root });
    await applyFileAction(rmOf('/evil-rel/victim', true), { root });
    await applyFileAction(rmOf('/evil-abs/*', true, true), { root });
    await applyFileAction(rmOf('/leak-abs'), { root });
    assert.equal(await lstat(join(root, 'leak-abs')).catch(() => undefined), undefined);
    await assertOutsideUntouched();
  });

  it('never reads a source outside the source tree', async () => {
    for (const src of ['/leak-abs', '/leak-rel', '/evil-abs/secret.txt', '/evil-rel/secret.txt']) {
      const dest = await mkdtemp(join(work, 'dest-'));
      const err = await applyFileAction(copyOf(src, '/got', { followSymlink: true, createDestPath: true }), {
        root: dest,
        secondary: source,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof FileActionError, `${src}: ${String(err)}`);
      assert.equal(err.kind, 'not-found');
    }
    // Without followSymlink the link itself is copied, its target text unchanged and unread.
    const dest = await mkdtemp(join(work, 'dest-'));
    await applyFileAction(copyOf('/leak-abs', '/got', { createDestPath: true }), {
      root: dest,
      secondary: source,
    });
    assert.ok((await lstat(join(dest, 'got'))).isSymbolicLink());
    // /etc/passwd of a tree is read inside it, never the host's.
    const db = await readUserDatabase(source);
    assert.equal(db.passwd, undefined);
  });

  it('refuses paths no file system holds (a NUL byte, a name past 255 bytes) as invalid', async () => {
    for (const action of [rmOf('/gone\0x', true), mkdirOf(`/${'x'.repeat(300)}`), mkfileOf('/a\0b', 'x')]) {
      await assert.rejects(applyFileAction(action, { root }), (err: unknown) => {
        assert.ok(err instanceof FileActionError);
        assert.equal(err.kind, 'invalid-argument', err.message);
        assert.ok(!err.message.includes(root), err.message);
        return true;
      });
    }
    await assertOutsideUntouched();
  });

  it('stops symlink loops', async () => {
    const dest = await mkdtemp(join(work, 'dest-'));
    await assert.rejects(
      applyFileAction(copyOf('/loop-a', '/x', { followSymlink: true, createDestPath: true }), {
        root: dest,
        secondary: source,
      }),
      TooManySymlinksError,
    );
    await assert.rejects(applyFileAction(mkfileOf('/loop-a/f', 'x'), { root }), TooManySymlinksError);
    await assert.rejects(
      applyFileAction(mkfileOf('/f', 'x', 0o644, ownerOf('someone')), {
        root: dest,
        userLookup: async () => readUserDatabase(dest),
      }),
      FileActionError,
    );
  });

  it('keeps archive entries inside the destination', async () => {
    const dest = await mkdtemp(join(work, 'dest-'));
    const src = await mkdtemp(join(work, 'src-'));
    const tar = pack();
    tar.entry({ name: 'out', type: 'symlink', linkname: outside });
    tar.entry({ name: 'out/pwned.txt' }, 'pwned\n');
    tar.entry({ name: 'up', type: 'symlink', linkname: up });
    tar.entry({ name: 'up/pwned2.txt' }, 'pwned\n');
    tar.entry({ name: `${up}${outside}/pwned3.txt` }, 'pwned\n');
    tar.finalize();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    await writeFile(join(src, 'evil.tar'), Buffer.concat(chunks));
    await applyFileAction(
      copyOf('/evil.tar', '/x/', { attemptUnpackDockerCompatibility: true, createDestPath: true }),
      {
        root: dest,
        secondary: src,
      },
    );
    await assertOutsideUntouched();
    assert.equal(await readFile(join(dest, 'x', outside, 'pwned.txt'), 'utf8'), 'pwned\n');
    assert.equal(await readFile(join(dest, 'x', 'pwned2.txt'), 'utf8'), 'pwned\n');
    assert.equal(await readFile(join(dest, 'x', outside, 'pwned3.txt'), 'utf8'), 'pwned\n');

    // A hardlink entry naming a file outside cannot link to it.
    const tar2 = pack();
    tar2.entry({ name: 'hl', type: 'link', linkname: `${up}${outside}/secret.txt` });
    tar2.finalize();
    const chunks2: Buffer[] = [];
    for await (const c of tar2) chunks2.push(c as Buffer);
    await writeFile(join(src, 'hl.tar'), Buffer.concat(chunks2));
    await assert.rejects(
      applyFileAction(
        copyOf('/hl.tar', '/y/', { attemptUnpackDockerCompatibility: true, createDestPath: true }),
        {
          root: dest,
          secondary: src,
        },
      ),
      FileActionError,
    );
    assert.equal((await lstat(join(outside, 'secret.txt'))).nlink, 1);
    await assertOutsideUntouched();
  });
});

function hash(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
