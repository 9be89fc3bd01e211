import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readBlob } from '../../content/index.js';
import { MediaType, parsePlatform, sha256 } from '../../oci/index.js';
import { RegistryClient } from '../../registry/index.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { logged, tempStore, type TempStore } from './harness.js';

describe('resolve modes', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  let t: TempStore;
  let client: RegistryClient;
  const manifestGets = async (): Promise<number> =>
    (await logged(registry, /^GET \/v2\/library\/busybox\/manifests\//)).length;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    pushed = await pushBusyboxIndex(registry);
    t = await tempStore();
    client = new RegistryClient({ db: t.db });
  });
  after(async () => {
    await client?.close();
    await t?.cleanup();
    await registry?.stop();
  });

  it('default: asks the registry for tags, keeps exact bytes and selects a platform', async () => {
    const before = await manifestGets();
    const resolved = await client.resolve(pushed.ref, {
      store: t.store,
      platform: parsePlatform('linux/arm64'),
    });
    assert.equal(resolved.source, 'registry');
    assert.equal(resolved.descriptor.mediaType, MediaType.ociIndex);
    assert.equal(resolved.descriptor.digest, pushed.indexDigest);
    assert.equal(sha256(resolved.bytes), pushed.indexDigest);
    assert.equal(resolved.manifest?.digest, pushed.manifests.arm64);
    assert.equal(resolved.manifest?.platform?.variant, 'v8');
    assert.deepEqual(await readBlob(t.store, pushed.indexDigest), resolved.bytes);
    await client.resolve(pushed.ref, { store: t.store });
    assert.equal((await manifestGets()) - before, 2);
    const row = t.db
      .prepare('SELECT digest, media_type FROM registry_resolved WHERE reference = ?')
      .get(`${registry.host}/library/busybox:latest`);
    assert.deepEqual(row, { digest: pushed.indexDigest, media_type: MediaType.ociIndex });
  });

  it('default: a digest-pinned reference with local content needs no request', async () => {
    const before = await manifestGets();
    const pinned = `${registry.host}/library/busybox@${pushed.indexDigest}`;
    const local = await client.resolve(pinned, { store: t.store });
    assert.equal(local.source, 'local');
    assert.equal(local.descriptor.digest, pushed.indexDigest);
    assert.equal(local.descriptor.mediaType, MediaType.ociIndex);
    assert.equal(await manifestGets(), before);
    const other = `${registry.host}/library/busybox@${pushed.manifests.amd64}`;
    const fetched = await client.resolve(other, { store: t.store });
    assert.equal(fetched.source, 'registry');
    assert.equal(fetched.descriptor.mediaType, MediaType.ociManifest);
    assert.equal((await manifestGets()) - before, 1);
    assert.equal((await client.resolve(pinned, { store: t.store, mode: 'pull' })).source, 'registry');
  });

  it('local: keeps the remembered resolution until told to pull', async () => {
    const ref = `${registry.host}/library/busybox:latest`;
    await client.resolve(ref, { store: t.store, mode: 'pull' });
    // Move the tag to the amd64 manifest alone.
    const amd64 = await client.fetchManifest(ref, pushed.manifests.amd64);
    await client.pushManifest(ref, amd64.descriptor.mediaType, amd64.bytes);
    const before = await manifestGets();
    const local = await client.resolve(ref, { store: t.store, mode: 'local' });
    assert.equal(local.source, 'local');
    assert.equal(local.descriptor.digest, pushed.indexDigest);
    assert.equal(await manifestGets(), before);
    const fresh = await client.resolve(ref, { store: t.store, mode: 'default' });
    assert.equal(fresh.descriptor.digest, pushed.manifests.amd64);
    const after = await client.resolve(ref, { store: t.store, mode: 'local' });
    assert.equal(after.descriptor.digest, pushed.manifests.amd64);
    assert.equal(after.source, 'local');
    // A store without the content makes `local` ask after all.
    const empty = await tempStore();
    try {
      const asked = await new RegistryClient({ db: t.db }).resolve(ref, {
        store: empty.store,
        mode: 'local',
      });
      assert.equal(asked.source, 'registry');
    } finally {
      await empty.cleanup();
    }
    await client.pushManifest(ref, MediaType.ociIndex, await readBlob(t.store, pushed.indexDigest));
  });

  it('resolves an image config without downloading layers', async () => {
    const s = await tempStore();
    try {
      const config = await client.resolveImageConfig(pushed.ref, {
        platform: parsePlatform('linux/arm64'),
        store: s.store,
        mode: 'pull',
      });
      assert.equal(config.digest, pushed.indexDigest);
      assert.equal(config.manifest.digest, pushed.manifests.arm64);
      assert.equal(config.config.architecture, 'arm64');
      assert.deepEqual(config.config.config?.Cmd, ['sh']);
      await assert.rejects(s.store.info(pushed.layout.images.arm64.layer.digest), {
        code: 'KILN_CONTENT_NOT_FOUND',
      });
      assert.equal((await s.store.usage()).count, 3);
    } finally {
      await s.cleanup();
    }
  });

  it('streams a blob from an offset, and stops a blob longer than its descriptor', async () => {
    const { layer, config } = pushed.layout.images.amd64;
    const parts: Buffer[] = [];
    for await (const chunk of client.fetchBlob(pushed.ref, layer, { offset: 1000 }))
      parts.push(chunk as Buffer);
    assert.equal(Buffer.concat(parts).length, layer.size - 1000);
    const missing = { ...config, digest: sha256('something else') };
    await assert.rejects(
      (async () => {
        for await (const _ of client.fetchBlob(pushed.ref, missing)) void _;
      })(),
      { kind: 'not-found', message: /404 Not Found .*blob sha256:/ },
    );
    const short = { ...config, size: config.size - 1 };
    await assert.rejects(
      (async () => {
        for await (const _ of client.fetchBlob(pushed.ref, short)) void _;
      })(),
      { code: 'KILN_REGISTRY_CONTENT_MISMATCH', message: /is longer than/ },
    );
  });
});
