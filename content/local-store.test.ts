import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sha256 } from '../oci/index.js';
import { LocalContentStore, writeBlob } from './index.js';
import { contentStoreSuite } from './testsuite.js';

async function fixture(): Promise<{ dir: string; db: Database.Database; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-content-'));
  const db = new Database(join(dir, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  return {
    dir,
    db,
    cleanup: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

contentStoreSuite('LocalContentStore', async () => {
  const { dir, db, cleanup } = await fixture();
  return { store: await LocalContentStore.open({ root: join(dir, 'content'), db }), cleanup };
});

describe('LocalContentStore on disk', () => {
  it('keeps blobs at blobs/sha256/<hex> and leaves ingest/ empty', async () => {
    const { dir, db, cleanup } = await fixture();
    try {
      const root = join(dir, 'content');
      const store = await LocalContentStore.open({ root, db });
      const desc = await writeBlob(store, Buffer.from('layout'));
      assert.ok(existsSync(join(root, 'blobs', 'sha256', desc.digest.slice(7))));
      const failed = await store.writer({ ref: 'bad', expected: sha256('nope') });
      await failed.write(Buffer.from('layout?'));
      await assert.rejects(failed.commit());
      const aborted = await store.writer({ ref: 'gone' });
      await aborted.write(Buffer.from('partial'));
      await aborted.abort();
      assert.deepEqual(await readdir(join(root, 'ingest')), []);
      assert.deepEqual(await readdir(join(root, 'blobs', 'sha256')), [desc.digest.slice(7)]);
    } finally {
      await cleanup();
    }
  });

  it('reconciles the database with the directories at startup', async () => {
    const { dir, db, cleanup } = await fixture();
    try {
      const root = join(dir, 'content');
      const first = await LocalContentStore.open({ root, db });
      const kept = await writeBlob(first, Buffer.from('kept'));
      const lost = await writeBlob(first, Buffer.from('file lost'));
      await rm(first.blobPath(lost.digest));
      const orphan = Buffer.from('renamed, then crashed before the insert');
      await writeFile(join(root, 'blobs', 'sha256', sha256(orphan).slice(7)), orphan);
      await writeFile(join(root, 'blobs', 'sha256', sha256('x').slice(7)), 'corrupted');
      await writeFile(join(root, 'blobs', 'sha256', 'not-a-digest'), '');
      await writeFile(join(root, 'ingest', 'debris'), 'half a layer');

      const second = new LocalContentStore({ root, db });
      const report = await second.reconcile();
      assert.equal(report.debris, 1);
      assert.deepEqual(report.dropped, [lost.digest]);
      assert.deepEqual(report.adopted, [sha256(orphan)]);
      assert.deepEqual([...report.removed].sort(), [sha256('x').slice(7), 'not-a-digest'].sort());
      assert.equal((await second.info(sha256(orphan))).size, orphan.length);
      await second.info(kept.digest);
      await assert.rejects(second.info(lost.digest), { code: 'KILN_CONTENT_NOT_FOUND' });
      assert.deepEqual(await readdir(join(root, 'ingest')), []);
      const again = await second.reconcile();
      assert.deepEqual(again, { debris: 0, dropped: [], adopted: [], removed: [] });
    } finally {
      await cleanup();
    }
  });

  it('keeps content and leases across a restart on the same database', async () => {
    const { dir, db, cleanup } = await fixture();
    try {
      const root = join(dir, 'content');
      const first = await LocalContentStore.open({ root, db });
      const desc = await writeBlob(first, Buffer.from('durable'), { lease: 'keep' });
      const second = await LocalContentStore.open({ root, db });
      assert.deepEqual((await second.garbageCollect()).removed, []);
      assert.equal((await second.info(desc.digest)).size, 7);
    } finally {
      await cleanup();
    }
  });
});
