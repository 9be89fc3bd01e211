import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readBlob } from '../../content/index.js';
import { parsePlatform, sha256 } from '../../oci/index.js';
import { RegistryClient, type PullProgress } from '../../registry/index.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { startRegistry, type RegistryAuth, type TestRegistry } from '../fixtures/registry.js';
import { credentialsFor, logged, tempStore, unameInLayer } from './harness.js';

const machine = { amd64: 'x86_64', arm64: 'aarch64' } as const;

for (const auth of ['none', 'basic', 'token'] as const satisfies readonly RegistryAuth[]) {
  describe(`pull from a registry with auth=${auth}`, () => {
    let registry: TestRegistry;
    let pushed: PushedBusybox;
    before(async () => {
      registry = await startRegistry({ auth });
      pushed = await pushBusyboxIndex(registry);
    });
    after(() => registry?.stop());

    for (const arch of ['amd64', 'arm64'] as const) {
      it(`pulls linux/${arch} into the content store and runs it under runc`, async () => {
        const t = await tempStore();
        const client = new RegistryClient({ credentials: credentialsFor(registry), db: t.db });
        try {
          const progress: PullProgress[] = [];
          const result = await client.pull(pushed.ref, {
            platform: parsePlatform(`linux/${arch}`),
            store: t.store,
            onProgress: (p) => progress.push(p),
          });
          const image = pushed.layout.images[arch];
          assert.equal(result.reference.digest, pushed.indexDigest);
          assert.equal(result.root.descriptor.digest, pushed.indexDigest);
          assert.equal(sha256(result.root.bytes), pushed.indexDigest);
          assert.equal(result.manifest.descriptor.digest, pushed.manifests[arch]);
          assert.equal(result.config.descriptor.digest, image.config.digest);
          assert.equal(result.config.value.architecture, arch);
          assert.deepEqual(result.config.value.rootfs.diff_ids, [image.diffId]);
          assert.deepEqual(
            result.layers.map((l) => l.digest),
            [image.layer.digest],
          );
          for (const digest of [
            pushed.indexDigest,
            pushed.manifests[arch],
            image.config.digest,
            image.layer.digest,
          ]) {
            assert.equal(sha256(await readBlob(t.store, digest)), digest);
          }
          const layerEvents = progress.filter((p) => p.descriptor.digest === image.layer.digest);
          assert.ok(layerEvents.some((p) => p.status === 'downloading' && p.offset < image.layer.size));
          assert.deepEqual(layerEvents.at(-1), {
            descriptor: image.layer,
            offset: image.layer.size,
            status: 'done',
          });
          assert.equal(await unameInLayer(t.store, image.layer.digest), machine[arch]);
        } finally {
          await client.close();
          await t.cleanup();
        }
      });
    }

    it(auth === 'basic' ? 'refuses an anonymous pull with a clear 401' : 'pulls anonymously', async () => {
      const t = await tempStore();
      const client = new RegistryClient({});
      try {
        const pulling = client.pull(pushed.ref, { platform: parsePlatform('linux/amd64'), store: t.store });
        if (auth !== 'basic') {
          assert.equal((await pulling).manifest.descriptor.digest, pushed.manifests.amd64);
          return;
        }
        await assert.rejects(pulling, (error: Error & { kind?: string }) => {
          assert.equal(error.kind, 'permission-denied');
          assert.match(
            error.message,
            new RegExp(
              `^pull ${registry.host}/library/busybox: 401 Unauthorized from http://${registry.host}/v2/library/busybox/manifests/latest: .*authentication required \\(no credentials for ${registry.host}\\)$`,
            ),
          );
          return true;
        });
      } finally {
        await t.cleanup();
      }
    });
  });
}

describe('pull sharing', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    pushed = await pushBusyboxIndex(registry);
  });
  after(() => registry?.stop());

  it('downloads a layer once when two pulls want it at the same time, and not again later', async () => {
    const t = await tempStore();
    const client = new RegistryClient({ credentials: credentialsFor(registry) });
    const other = client.withCredentials(credentialsFor(registry));
    // skopeo's push in `before` asks for tokens too, for mounts its blob-info cache suggests.
    const tokensBefore = registry.tokenServer!.requests().length;
    try {
      const platform = parsePlatform('linux/arm64');
      const [a, b] = await Promise.all([
        client.pull(pushed.ref, { platform, store: t.store }),
        other.pull(pushed.ref, { platform, store: t.store }),
      ]);
      assert.deepEqual(a.layers, b.layers);
      const layer = pushed.layout.images.arm64.layer.digest;
      assert.equal(
        (await logged(registry, new RegExp(`^GET /v2/library/busybox/blobs/${layer} 200`))).length,
        1,
      );
      const again = await client.pull(pushed.ref, { platform, store: t.store });
      assert.equal(again.manifest.descriptor.digest, pushed.manifests.arm64);
      assert.equal(
        (await logged(registry, new RegExp(`^GET /v2/library/busybox/blobs/${layer} `))).length,
        1,
      );
      // One token per scope set and credential view, reused by every request.
      const tokens = registry.tokenServer!.requests().slice(tokensBefore);
      assert.ok(tokens.length <= 3, `expected at most 3 token requests, saw ${JSON.stringify(tokens)}`);
      assert.ok(tokens.every((r) => r.account === 'kiln' && r.status === 200));
    } finally {
      await client.close();
      await t.cleanup();
    }
  });

  it('names the platforms an index offers when the wanted one is missing', async () => {
    const t = await tempStore();
    const client = new RegistryClient({ credentials: credentialsFor(registry) });
    try {
      await assert.rejects(
        client.pull(pushed.ref, { platform: parsePlatform('linux/s390x'), store: t.store }),
        {
          code: 'KILN_REGISTRY_NO_MATCHING_PLATFORM',
          kind: 'not-found',
          message: /no manifest for platform linux\/s390x \(the index offers linux\/amd64, linux\/arm64\)/,
        },
      );
    } finally {
      await t.cleanup();
    }
  });
});
