import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CacheMounts } from './index.js';

describe('CacheMounts seeders (restoring imported cache mounts)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-cachemounts-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const mounts = (name: string): CacheMounts =>
    new CacheMounts({ root: join(root, name), db: new Database(':memory:') });

  it('fills a directory it creates, before any user sees it, and never an existing one', async () => {
    const cm = mounts('fill');
    const asked: string[] = [];
    cm.addSeeder(async (id, dir) => {
      asked.push(id);
      await sleep(30);
      await writeFile(join(dir, 'restored'), `for ${id}`);
      return true;
    });
    // Two shared users at once: the second waits for the seeded contents.
    const [a, b] = await Promise.all([cm.acquire('go-mod', 'shared'), cm.acquire('go-mod', 'shared')]);
    assert.equal(await readFile(join(a.dir, 'restored'), 'utf8'), 'for go-mod');
    assert.equal(await readFile(join(b.dir, 'restored'), 'utf8'), 'for go-mod');
    a.release();
    b.release();
    const again = await cm.acquire('go-mod', 'shared');
    again.release();
    assert.deepEqual(asked, ['go-mod'], 'seeded once, when created');
  });

  it('asks seeders in order until one fills the directory; unregistered ones are not asked', async () => {
    const cm = mounts('order');
    const calls: string[] = [];
    const dispose = cm.addSeeder(async () => {
      calls.push('gone');
      return true;
    });
    dispose();
    cm.addSeeder(async () => {
      calls.push('first');
      return false;
    });
    cm.addSeeder(async (_id, dir) => {
      calls.push('second');
      await writeFile(join(dir, 'x'), 'x');
      return true;
    });
    const lease = await cm.acquire('order', 'locked');
    lease.release();
    assert.deepEqual(calls, ['first', 'second']);
    assert.deepEqual(await readdir(lease.dir), ['x']);
  });

  it('a failing seeder leaves an empty directory and the step goes on', async () => {
    const cm = mounts('fail');
    cm.addSeeder(async (_id, dir) => {
      await writeFile(join(dir, 'partial'), 'half');
      throw new Error('network went away');
    });
    const lease = await cm.acquire('broken', 'shared');
    assert.deepEqual(await readdir(lease.dir), []);
    lease.release();
  });

  it('a cancelled step leaves no half-restored directory and rejects with its reason', async () => {
    const cm = mounts('cancel');
    const controller = new AbortController();
    cm.addSeeder(async (_id, dir, signal) => {
      await writeFile(join(dir, 'partial'), 'half');
      controller.abort(new Error('step cancelled'));
      signal?.throwIfAborted();
      return true;
    });
    await assert.rejects(cm.acquire('cancelled', 'shared', controller.signal), /step cancelled/);
    const next = await cm.acquire('cancelled', 'shared');
    assert.deepEqual(await readdir(next.dir), []);
    next.release();
    // The slot was given back: a locked user is not stuck behind the failed acquire.
    const locked = await Promise.race([cm.acquire('cancelled', 'locked'), sleep(2000).then(() => undefined)]);
    assert.ok(locked, 'locked acquire did not wait forever');
    locked.release();
  });
});
