import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { sha256, type Digest } from '../oci/index.js';
import { copyStream, readBlob, writeBlob, type ContentStore } from './index.js';

/** A store under test and how to dispose of it. */
export interface StoreFixture {
  readonly store: ContentStore;
  readonly cleanup: () => Promise<void>;
}

function kindOf(error: unknown): unknown {
  return (error as { kind?: unknown }).kind;
}

async function withStore(
  factory: () => Promise<StoreFixture>,
  fn: (s: ContentStore) => Promise<void>,
): Promise<void> {
  const { store, cleanup } = await factory();
  try {
    await fn(store);
  } finally {
    await cleanup();
  }
}

async function isEmpty(store: ContentStore): Promise<void> {
  const seen: Digest[] = [];
  await store.walk((info) => void seen.push(info.digest));
  assert.deepEqual(seen, []);
  assert.deepEqual(await store.usage(), { size: 0, count: 0 });
}

/**
 * The behaviour every ContentStore must have, as in containerd's content testsuite: run it with a
 * factory that makes a fresh, empty store per test.
 */
export function contentStoreSuite(name: string, factory: () => Promise<StoreFixture>): void {
  const test = (title: string, fn: (s: ContentStore) => Promise<void>): void => {
    it(title, () => withStore(factory, fn));
  };
  const hello = Buffer.from('hello, kiln\n');
  const helloDigest = sha256(hello);

  describe(`${name}: ContentStore conformance`, () => {
    test('writes, describes and reads back a blob', async (store) => {
      const desc = await writeBlob(store, hello, { mediaType: 'text/plain' });
      assert.deepEqual(desc, { mediaType: 'text/plain', digest: helloDigest, size: hello.length });
      const info = await store.info(helloDigest);
      assert.equal(info.size, hello.length);
      assert.ok(Math.abs(info.createdAt.getTime() - Date.now()) < 60_000);
      assert.deepEqual(await readBlob(store, helloDigest), hello);
      const tail: Buffer[] = [];
      for await (const chunk of await store.reader(helloDigest, { offset: 7 })) tail.push(chunk as Buffer);
      assert.equal(Buffer.concat(tail).toString(), 'kiln\n');
      assert.deepEqual(await store.usage(), { size: hello.length, count: 1 });
    });

    test('reports a missing blob as not-found', async (store) => {
      await assert.rejects(store.info(helloDigest), (e) => kindOf(e) === 'not-found');
      await assert.rejects(store.reader(helloDigest), (e) => kindOf(e) === 'not-found');
      await assert.rejects(store.delete(helloDigest), (e) => kindOf(e) === 'not-found');
    });

    test('rejects a wrong digest at commit and keeps nothing', async (store) => {
      const writer = await store.writer({ ref: 'bad-digest', expected: sha256('other') });
      await writer.write(hello);
      await assert.rejects(writer.commit(), {
        code: 'KILN_CONTENT_DIGEST_MISMATCH',
        kind: 'failed-precondition',
      });
      await isEmpty(store);
      await assert.rejects(writer.write(hello), { code: 'KILN_CONTENT_WRITER_CLOSED' });
    });

    test('rejects a wrong size at commit and keeps nothing', async (store) => {
      const writer = await store.writer({ ref: 'bad-size' });
      await writer.write(hello);
      await assert.rejects(writer.commit({ size: hello.length + 1 }), /is 12 bytes, expected 13 bytes/);
      await isEmpty(store);
    });

    test('stops a write that runs past its declared total', async (store) => {
      const writer = await store.writer({ ref: 'too-long', total: 4 });
      await assert.rejects(writer.write(hello), { code: 'KILN_CONTENT_SIZE_MISMATCH' });
      await isEmpty(store);
    });

    test('refuses a writer for content it already has, and the helpers accept that', async (store) => {
      await writeBlob(store, hello);
      await assert.rejects(
        store.writer({ ref: 'again', expected: helloDigest }),
        (e) => kindOf(e) === 'already-exists',
      );
      const again = await writeBlob(store, hello);
      assert.equal(again.digest, helloDigest);
      let read = false;
      const source = new Readable({ read: () => void (read = true) });
      const copied = await copyStream(store, source, {
        ref: 'copy',
        expected: helloDigest,
        total: hello.length,
      });
      assert.deepEqual(copied, { digest: helloDigest, size: hello.length, existed: true });
      assert.equal(read, false);
    });

    test('commits content that already exists without an expected digest', async (store) => {
      await writeBlob(store, hello);
      const writer = await store.writer({ ref: 'unnamed' });
      await writer.write(hello);
      const info = await writer.commit();
      assert.equal(info.digest, helloDigest);
      assert.deepEqual(await store.usage(), { size: hello.length, count: 1 });
    });

    test('makes a second writer with the same ref wait for the first', async (store) => {
      const first = await store.writer({ ref: 'shared', expected: helloDigest });
      const events: string[] = [];
      const second = store.writer({ ref: 'shared', expected: helloDigest }).then(
        () => events.push('second got a writer'),
        (e: unknown) => events.push(`second: ${String(kindOf(e))}`),
      );
      await new Promise((r) => setTimeout(r, 50));
      events.push('first commits');
      await first.write(hello);
      await first.commit();
      await second;
      assert.deepEqual(events, ['first commits', 'second: already-exists']);
    });

    test('lets a waiting writer give up through its signal', async (store) => {
      const first = await store.writer({ ref: 'held' });
      const controller = new AbortController();
      const waiting = store.writer({ ref: 'held', signal: controller.signal });
      controller.abort(new Error('caller went away'));
      await assert.rejects(waiting, /caller went away/);
      await first.abort();
      const third = await store.writer({ ref: 'held' });
      await third.abort();
    });

    test('aborting a writer leaves nothing behind, and a signal aborts it too', async (store) => {
      const writer = await store.writer({ ref: 'abort-me' });
      await writer.write(hello);
      await writer.abort();
      await writer.abort();
      await assert.rejects(writer.commit(), { code: 'KILN_CONTENT_WRITER_CLOSED' });
      const controller = new AbortController();
      const source = Readable.from(
        (async function* () {
          yield hello;
          controller.abort(new Error('stop'));
          yield hello;
        })(),
      );
      await assert.rejects(
        copyStream(store, source, { ref: 'cancelled', signal: controller.signal }),
        /stop/,
      );
      await isEmpty(store);
    });

    test('updates and removes labels', async (store) => {
      await writeBlob(store, hello, { labels: { a: '1', b: '2' } });
      const info = await store.updateLabels(helloDigest, { b: '', c: '3' });
      assert.deepEqual(info.labels, { a: '1', c: '3' });
      assert.deepEqual((await store.info(helloDigest)).labels, { a: '1', c: '3' });
      await assert.rejects(store.updateLabels(sha256('x'), { a: '1' }), (e) => kindOf(e) === 'not-found');
    });

    test('walks every blob and stops when asked', async (store) => {
      for (const text of ['a', 'b', 'c']) await writeBlob(store, Buffer.from(text));
      const all: Digest[] = [];
      await store.walk((info) => void all.push(info.digest));
      assert.deepEqual([...all].sort(), [sha256('a'), sha256('b'), sha256('c')].sort());
      let visits = 0;
      await store.walk(() => ++visits < 2);
      assert.equal(visits, 2);
    });

    test('deletes only blobs no lease holds', async (store) => {
      await writeBlob(store, hello);
      await store.createLease('build-1');
      await store.addLeaseResource('build-1', helloDigest);
      await assert.rejects(store.delete(helloDigest), { code: 'KILN_CONTENT_IN_USE' });
      await store.removeLeaseResource('build-1', helloDigest);
      await store.delete(helloDigest);
      await isEmpty(store);
      await assert.rejects(
        store.addLeaseResource('no-such-lease', helloDigest),
        (e) => kindOf(e) === 'not-found',
      );
    });

    test('garbage collection keeps leased blobs and removes the rest', async (store) => {
      const kept = await writeBlob(store, Buffer.from('kept'), { lease: 'pull-1' });
      const early = sha256('protected before it exists');
      await store.createLease('pull-2');
      await store.addLeaseResource('pull-2', early);
      await writeBlob(store, Buffer.from('protected before it exists'));
      const loose = await writeBlob(store, Buffer.from('loose'));
      await store.createLease('old', { expiresAt: new Date(Date.now() - 1000) });
      const expired = await writeBlob(store, Buffer.from('expired lease'));
      await store.addLeaseResource('old', expired.digest);
      const result = await store.garbageCollect();
      assert.deepEqual([...result.removed].sort(), [loose.digest, expired.digest].sort());
      assert.equal(result.bytes, loose.size + expired.size);
      await store.info(kept.digest);
      await store.info(early);
      await store.deleteLease('pull-1');
      await store.deleteLease('pull-2');
      assert.equal((await store.garbageCollect()).removed.length, 2);
      await isEmpty(store);
    });

    test('a writer lease holds the blob even when it already existed', async (store) => {
      await writeBlob(store, hello);
      await assert.rejects(
        store.writer({ ref: 'x', expected: helloDigest, lease: 'late' }),
        (e) => kindOf(e) === 'already-exists',
      );
      assert.deepEqual((await store.garbageCollect()).removed, []);
    });

    test('concurrent copies of one digest read the source once', async (store) => {
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      const digest = sha256(big);
      let opened = 0;
      const source = (): Readable => {
        opened++;
        return Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]);
      };
      const copy = async (): Promise<boolean> => {
        // Open the source only once the writer is ours, as a registry pull does.
        const writer = await store
          .writer({ ref: `fetch-${digest}`, expected: digest, total: big.length })
          .catch((e: unknown) => {
            if (kindOf(e) === 'already-exists') return undefined;
            throw e;
          });
        if (!writer) return false;
        try {
          for await (const chunk of source()) await writer.write(chunk as Buffer);
          await writer.commit();
          return true;
        } finally {
          await writer.abort();
        }
      };
      const results = await Promise.all([copy(), copy(), copy()]);
      assert.deepEqual(results, [true, false, false]);
      assert.equal(opened, 1);
      assert.deepEqual(await readBlob(store, digest), big);
    });
  });
}
