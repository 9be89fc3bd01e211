import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type LocalSnapshotter,
  mountAll,
  mountPointsUnder,
  type SnapshotInfo,
  withTempMount,
} from './index.js';

/** Builds the snapshotter under test on a fresh root and database. */
export type SnapshotterFactory = (options: {
  root: string;
  db: Database.Database;
}) => Promise<LocalSnapshotter>;

interface Env {
  readonly sn: LocalSnapshotter;
  readonly root: string;
  readonly db: Database.Database;
  readonly dir: string;
}

/** A fresh snapshotter in a temp dir; afterwards nothing of it may stay mounted, and the dir goes. */
export async function withSnapshotter(
  factory: SnapshotterFactory,
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-snap-'));
  const db = new Database(join(dir, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  const root = join(dir, 'snapshots');
  const sn = await factory({ root, db });
  try {
    await fn({ sn, root, db, dir });
  } finally {
    await sn.close();
    db.close();
    const left = await mountPointsUnder(tmpdir());
    assert.deepEqual(
      left.filter((p) => p.includes('kiln-mount-') || p.startsWith(dir)),
      [],
    );
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `files` (path → content, or null to delete) into the snapshot's mounts. */
async function change(
  sn: LocalSnapshotter,
  key: string,
  files: Record<string, string | null>,
): Promise<void> {
  await withTempMount(await sn.mounts(key), async (d) => {
    for (const [path, content] of Object.entries(files)) {
      const full = join(d, path);
      if (content === null) await rm(full, { recursive: true });
      else {
        await mkdir(join(full, '..'), { recursive: true });
        await writeFile(full, content);
      }
    }
  });
}

async function read(sn: LocalSnapshotter, key: string, path: string): Promise<string | undefined> {
  return withTempMount(await sn.mounts(key), async (d) => {
    try {
      return await readFile(join(d, path), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  });
}

/** A committed snapshot `name` holding `files`, on `parent`. */
async function layer(
  sn: LocalSnapshotter,
  name: string,
  parent: string | undefined,
  files: Record<string, string | null>,
): Promise<void> {
  await sn.prepare(`${name}-active`, parent);
  await change(sn, `${name}-active`, files);
  await sn.commit(name, `${name}-active`);
}

const kind = (k: string) => (error: unknown) => (error as { kind?: string }).kind === k;

/**
 * The lifecycle every LocalSnapshotter must follow, after containerd's snapshot testsuite: about
 * twenty checks with real mounts, each on a fresh root.
 */
export function snapshotterSuite(name: string, factory: SnapshotterFactory): void {
  const test = (title: string, fn: (env: Env) => Promise<void>): void => {
    it(title, () => withSnapshotter(factory, fn));
  };

  describe(`${name}: Snapshotter conformance`, () => {
    test('prepare makes an active snapshot with labels and writable mounts', async ({ sn }) => {
      const mounts = await sn.prepare('a', undefined, { labels: { team: 'kiln' } });
      assert.ok(mounts.length > 0);
      const info = await sn.stat('a');
      assert.equal(info.kind, 'active');
      assert.equal(info.parent, undefined);
      assert.deepEqual(info.labels, { team: 'kiln' });
      assert.deepEqual(await sn.mounts('a'), mounts);
      await change(sn, 'a', { 'hello.txt': 'hi' });
      assert.equal(await read(sn, 'a', 'hello.txt'), 'hi');
    });

    test('an empty key is refused', async ({ sn }) => {
      await assert.rejects(sn.prepare(''), kind('invalid-argument'));
    });

    test('a key can be prepared only once, whatever its kind', async ({ sn }) => {
      await layer(sn, 'base', undefined, { f: '1' });
      await sn.prepare('a', 'base');
      await assert.rejects(sn.prepare('a'), kind('already-exists'));
      await assert.rejects(sn.view('a', 'base'), kind('already-exists'));
      await assert.rejects(sn.prepare('base'), kind('already-exists'));
    });

    test('commit turns the active key into a committed name and merges labels', async ({ sn }) => {
      await sn.prepare('a', undefined, { labels: { x: '1' } });
      await change(sn, 'a', { f: 'data' });
      await sn.commit('c', 'a', { labels: { y: '2' } });
      await assert.rejects(sn.stat('a'), kind('not-found'));
      const info = await sn.stat('c');
      assert.equal(info.kind, 'committed');
      assert.deepEqual(info.labels, { x: '1', y: '2' });
      assert.equal(await read(sn, 'c', 'f'), 'data');
    });

    test('only active snapshots can be committed', async ({ sn }) => {
      await layer(sn, 'c', undefined, {});
      await sn.view('v', 'c');
      await assert.rejects(sn.commit('c2', 'c'), kind('failed-precondition'));
      await assert.rejects(sn.commit('v2', 'v'), kind('failed-precondition'));
      await assert.rejects(sn.commit('x', 'missing'), kind('not-found'));
    });

    test('commit to a taken name fails and leaves the active snapshot usable', async ({ sn }) => {
      await layer(sn, 'c', undefined, {});
      await sn.prepare('a');
      await assert.rejects(sn.commit('c', 'a'), kind('already-exists'));
      assert.equal((await sn.stat('a')).kind, 'active');
      await sn.commit('c2', 'a');
    });

    test('a parent must exist and be committed', async ({ sn }) => {
      await assert.rejects(sn.prepare('a', 'nope'), kind('not-found'));
      await sn.prepare('active');
      await assert.rejects(sn.prepare('b', 'active'), kind('failed-precondition'));
      await assert.rejects(sn.view('v', 'active'), kind('failed-precondition'));
      await assert.rejects(sn.stat('b'), kind('not-found'));
    });

    test('a child sees its parent chain, with later layers winning', async ({ sn }) => {
      await layer(sn, 'l1', undefined, { 'a.txt': 'a1', 'b.txt': 'b1', 'dir/x': 'x1' });
      await layer(sn, 'l2', 'l1', { 'b.txt': 'b2', 'dir/y': 'y2' });
      await layer(sn, 'l3', 'l2', { 'a.txt': null });
      await sn.prepare('top', 'l3');
      assert.equal((await sn.stat('top')).parent, 'l3');
      assert.equal(await read(sn, 'top', 'a.txt'), undefined);
      assert.equal(await read(sn, 'top', 'b.txt'), 'b2');
      assert.equal(await read(sn, 'top', 'dir/x'), 'x1');
      assert.equal(await read(sn, 'top', 'dir/y'), 'y2');
    });

    test('changes in a child never reach the committed parent', async ({ sn }) => {
      await layer(sn, 'p', undefined, { 'f.txt': 'parent', 'g.txt': 'keep' });
      await sn.prepare('child', 'p');
      await withTempMount(await sn.mounts('child'), async (d) => {
        await writeFile(join(d, 'f.txt'), 'child');
        await unlink(join(d, 'g.txt'));
        await writeFile(join(d, 'new.txt'), 'new');
      });
      assert.equal(await read(sn, 'p', 'f.txt'), 'parent');
      assert.equal(await read(sn, 'p', 'g.txt'), 'keep');
      assert.equal(await read(sn, 'p', 'new.txt'), undefined);
      assert.equal(await read(sn, 'child', 'f.txt'), 'child');
    });

    test('an active child holds independent copies of the parent files, never hardlinks', async ({ sn }) => {
      await layer(sn, 'p', undefined, { 'f.txt': 'parent' });
      await sn.prepare('child', 'p');
      const layerDir = (await sn.writableLayer('child')).dir;
      await withTempMount(await sn.mounts('p'), async (pd) => {
        const parentIno = (await stat(join(pd, 'f.txt'))).ino;
        for (const name of await readdir(layerDir)) {
          assert.notEqual((await stat(join(layerDir, name))).ino, parentIno, name);
        }
      });
    });

    test('a view is read-only and shows its parent', async ({ sn }) => {
      await layer(sn, 'p', undefined, { 'f.txt': 'parent' });
      const mounts = await sn.view('v', 'p');
      assert.equal((await sn.stat('v')).kind, 'view');
      await withTempMount(mounts, async (d) => {
        assert.equal(await readFile(join(d, 'f.txt'), 'utf8'), 'parent');
        await assert.rejects(writeFile(join(d, 'other'), 'x'), { code: 'EROFS' });
      });
    });

    test('a view without parent is empty and read-only', async ({ sn }) => {
      await withTempMount(await sn.view('v'), async (d) => {
        assert.deepEqual(await readdir(d), []);
        await assert.rejects(writeFile(join(d, 'x'), 'x'), { code: 'EROFS' });
      });
    });

    test('committed snapshots mount read-only', async ({ sn }) => {
      await layer(sn, 'c', undefined, { f: '1' });
      await withTempMount(await sn.mounts('c'), async (d) => {
        await assert.rejects(writeFile(join(d, 'f'), 'changed'), { code: 'EROFS' });
      });
    });

    test('a snapshot with children cannot be removed until they are', async ({ sn }) => {
      await layer(sn, 'p', undefined, {});
      await sn.prepare('child', 'p');
      await sn.view('v', 'p');
      await assert.rejects(sn.remove('p'), (e: unknown) => {
        assert.equal((e as { kind: string }).kind, 'failed-precondition');
        assert.deepEqual((e as { children: string[] }).children, ['child', 'v']);
        return true;
      });
      await sn.remove('child');
      await sn.remove('v');
      await sn.remove('p');
      await assert.rejects(sn.stat('p'), kind('not-found'));
      await assert.rejects(sn.remove('p'), kind('not-found'));
    });

    test('a removed key can be reused and starts empty, without old layer records', async ({ sn }) => {
      await layer(sn, 'k', undefined, { old: 'x' });
      await sn.recordLayer('k', 'gzip', {
        digest: 'sha256:' + '0'.repeat(64),
        size: 1,
        mediaType: 'm',
        diffId: 'd',
      });
      await sn.remove('k');
      await sn.prepare('k');
      assert.equal(await read(sn, 'k', 'old'), undefined);
      await sn.commit('k2', 'k');
      assert.equal(await sn.layerRecord('k2', 'gzip'), undefined);
    });

    test('update replaces labels and moves updatedAt', async ({ sn }) => {
      await sn.prepare('a', undefined, { labels: { x: '1' } });
      const before = await sn.stat('a');
      await new Promise((r) => setTimeout(r, 5));
      const after = await sn.update({ key: 'a', labels: { y: '2' } });
      assert.deepEqual(after.labels, { y: '2' });
      assert.ok(after.updatedAt > before.updatedAt);
      assert.deepEqual(after.createdAt, before.createdAt);
      await assert.rejects(sn.update({ key: 'nope', labels: {} }), kind('not-found'));
    });

    test('usage counts the snapshot itself, hardlinks once, parents not at all', async ({ sn }) => {
      await sn.prepare('a');
      await withTempMount(await sn.mounts('a'), async (d) => {
        await writeFile(join(d, 'big'), Buffer.alloc(1 << 20, 1));
        await link(join(d, 'big'), join(d, 'big-link'));
        await writeFile(join(d, 'small'), 'x');
      });
      const active = await sn.usage('a');
      assert.ok(active.size >= 1 << 20 && active.size < 2 << 20, `size ${active.size}`);
      assert.equal(active.inodes, 3); // the root dir, big (twice linked), small
      await sn.commit('c', 'a');
      assert.deepEqual(await sn.usage('c'), active);
      await sn.prepare('child', 'c');
      await change(sn, 'child', { tiny: 't' });
      const child = await sn.usage('child');
      if (sn.driver === 'overlayfs') assert.ok(child.size < 1 << 20, `child size ${child.size}`);
      await assert.rejects(sn.usage('nope'), kind('not-found'));
    });

    test('walk lists every snapshot, parents first, and stops on false', async ({ sn }) => {
      await layer(sn, 'l1', undefined, {});
      await layer(sn, 'l2', 'l1', {});
      await sn.prepare('a', 'l2');
      await sn.view('v', 'l1');
      const seen: SnapshotInfo[] = [];
      await sn.walk((info) => void seen.push(info));
      assert.deepEqual(seen.map((i) => i.key).sort(), ['a', 'l1', 'l2', 'v']);
      assert.ok(seen.findIndex((i) => i.key === 'l1') < seen.findIndex((i) => i.key === 'l2'));
      assert.ok(seen.findIndex((i) => i.key === 'l2') < seen.findIndex((i) => i.key === 'a'));
      let count = 0;
      await sn.walk(() => ++count < 2);
      assert.equal(count, 2);
    });

    test('metadata and data survive a restart on the same root and database', async ({ root, db, sn }) => {
      await layer(sn, 'c', undefined, { f: 'persisted' });
      await sn.close();
      const again = await factory({ root, db });
      try {
        assert.equal((await again.stat('c')).kind, 'committed');
        assert.equal(await read(again, 'c', 'f'), 'persisted');
      } finally {
        await again.close();
      }
    });

    test('close makes every call fail, and closing twice is fine', async ({ sn }) => {
      await sn.prepare('a');
      await sn.close();
      await sn.close();
      await assert.rejects(sn.stat('a'), { code: 'KILN_SNAPSHOTTER_CLOSED' });
      await assert.rejects(sn.prepare('b'), { code: 'KILN_SNAPSHOTTER_CLOSED' });
      await assert.rejects(
        sn.walk(() => undefined),
        { code: 'KILN_SNAPSHOTTER_CLOSED' },
      );
    });

    test('cleanup removes directories no snapshot owns and keeps the rest', async ({ sn, root }) => {
      await layer(sn, 'c', undefined, { f: 'kept' });
      await mkdir(join(root, 'zzz9', 'fs'), { recursive: true });
      await mkdir(join(root, 'trash-12'), { recursive: true });
      assert.deepEqual(await sn.cleanup(), { removed: 2 });
      assert.equal(await read(sn, 'c', 'f'), 'kept');
    });

    test('mounts temporary trees under its root; cleanup unmounts what a killed daemon left', async ({
      sn,
      root,
    }) => {
      await layer(sn, 'p', undefined, { f: 'base' });
      await layer(sn, 'c', 'p', { g: 'top' });
      const seen = await sn.withTempMount(await sn.view('v', 'c'), async (d) => {
        assert.ok(d.startsWith(`${root}/`), d);
        assert.notDeepEqual(await mountPointsUnder(d), []);
        return [await readFile(join(d, 'f'), 'utf8'), await readFile(join(d, 'g'), 'utf8')];
      });
      assert.deepEqual(seen, ['base', 'top']);
      // What a SIGKILL in the middle of withTempMount leaves: the mount, never unmounted.
      const left = join(root, 'tmp-mounts', 'kiln-mount-left');
      await mkdir(left);
      await mountAll(await sn.view('w', 'c'), left);
      assert.notDeepEqual(await mountPointsUnder(left), []);
      assert.deepEqual(await sn.cleanup(), { removed: 1 });
      assert.deepEqual(await mountPointsUnder(root), []);
      assert.deepEqual(await readdir(join(root, 'tmp-mounts')), []);
      assert.equal(await read(sn, 'c', 'g'), 'top');
    });

    test('failed prepare leaves nothing behind', async ({ sn }) => {
      await layer(sn, 'p', undefined, { f: '1' });
      const aborted = AbortSignal.abort();
      await assert.rejects(sn.prepare('a', 'p', { signal: aborted }));
      await assert.rejects(sn.stat('a'), kind('not-found'));
      await sn.prepare('a', 'p');
    });
  });
}
