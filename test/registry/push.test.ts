import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MediaType, parsePlatform, sha256, type ImageIndex } from '../../oci/index.js';
import { RegistryClient, type PushProgress } from '../../registry/index.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { startRegistry, type RegistryAuth, type TestRegistry } from '../fixtures/registry.js';
import { startFaultyProxy } from './faulty-proxy.js';
import {
  credentialsFor,
  logged,
  skopeoCopyToLayout,
  skopeoInspectRaw,
  tempStore,
  type TempStore,
} from './harness.js';

/** Pulls both platforms so the store holds the whole multi-arch image. */
async function pullBoth(client: RegistryClient, t: TempStore, pushed: PushedBusybox): Promise<void> {
  for (const arch of ['amd64', 'arm64']) {
    await client.pull(pushed.ref, { platform: parsePlatform(`linux/${arch}`), store: t.store });
  }
}

const index = { mediaType: MediaType.ociIndex } as const;

for (const auth of ['none', 'basic', 'token'] as const satisfies readonly RegistryAuth[]) {
  describe(`push to a registry with auth=${auth}`, () => {
    let registry: TestRegistry;
    let pushed: PushedBusybox;
    let t: TempStore;
    let client: RegistryClient;
    before(async () => {
      registry = await startRegistry({ auth });
      pushed = await pushBusyboxIndex(registry);
      t = await tempStore();
      client = new RegistryClient({ credentials: credentialsFor(registry) });
      await pullBoth(client, t, pushed);
    });
    after(async () => {
      await client?.close();
      await t?.cleanup();
      await registry?.stop();
    });

    it('pushes blobs, manifests and the index under a new name; skopeo sees the same digests', async () => {
      const ref = `${registry.host}/copies/busybox:v1`;
      const progress: PushProgress[] = [];
      const descriptor = {
        ...index,
        digest: pushed.indexDigest,
        size: (await t.store.info(pushed.indexDigest)).size,
      };
      const digest = await client.push(ref, {
        provider: t.store,
        descriptor,
        onProgress: (p) => progress.push(p),
      });
      assert.equal(digest, pushed.indexDigest);
      assert.equal(sha256(await skopeoInspectRaw(registry, ref)), pushed.indexDigest);
      for (const arch of ['amd64', 'arm64'] as const) {
        const raw = await skopeoInspectRaw(
          registry,
          `${registry.host}/copies/busybox@${pushed.manifests[arch]}`,
        );
        assert.equal(sha256(raw), pushed.manifests[arch]);
      }
      const layoutDir = await mkdtemp(join(tmpdir(), 'kiln-skopeo-'));
      try {
        await skopeoCopyToLayout(registry, ref, layoutDir);
        const top = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
        assert.equal(top.manifests[0]?.digest, pushed.indexDigest);
        for (const image of Object.values(pushed.layout.images)) {
          const layer = await readFile(join(layoutDir, 'blobs', 'sha256', image.layer.digest.slice(7)));
          assert.equal(sha256(layer), image.layer.digest);
        }
      } finally {
        await rm(layoutDir, { recursive: true, force: true });
      }
      const statuses = new Set(progress.map((p) => p.status));
      assert.ok(statuses.has('uploaded') && statuses.has('manifest'), [...statuses].join(','));
    });

    it('skips blobs the registry has and mounts blobs from another repository', async () => {
      const descriptor = {
        ...index,
        digest: pushed.indexDigest,
        size: (await t.store.info(pushed.indexDigest)).size,
      };
      await client.push(`${registry.host}/copies/busybox:v2`, { provider: t.store, descriptor });
      const layer = pushed.layout.images.amd64.layer.digest;
      assert.deepEqual(await logged(registry, new RegExp(`^HEAD /v2/copies/busybox/blobs/${layer} 200`)), [
        `HEAD /v2/copies/busybox/blobs/${layer} 200`,
      ]);
      const before = (await logged(registry, /^(POST|PATCH|PUT) \/v2\/copies\/busybox\/blobs/)).length;
      assert.ok(before > 0);
      await client.push(`${registry.host}/mounted/busybox:v1`, {
        provider: t.store,
        descriptor,
        mountFrom: [`${registry.host}/copies/busybox`],
      });
      const mounts = await logged(registry, /^POST \/v2\/mounted\/busybox\/blobs\/uploads\/\?mount=/);
      assert.equal(mounts.length, 4);
      assert.ok(
        mounts.every((line) => line.endsWith(' 201') && line.includes('from=copies%2Fbusybox')),
        mounts.join('\n'),
      );
      assert.deepEqual(await logged(registry, /^(PATCH|PUT) \/v2\/mounted\/busybox\/blobs/), []);
      assert.equal(
        sha256(await skopeoInspectRaw(registry, `${registry.host}/mounted/busybox:v1`)),
        pushed.indexDigest,
      );
    });

    if (auth !== 'none') {
      it('refuses an anonymous push with a clear 401', async () => {
        const anonymous = client.withCredentials(undefined);
        const manifest = pushed.layout.images.amd64.manifest;
        await assert.rejects(
          anonymous.push(`${registry.host}/anonymous/busybox:v1`, {
            provider: t.store,
            descriptor: manifest,
          }),
          (error: Error & { kind?: string; code?: string }) => {
            assert.equal(error.kind, 'permission-denied');
            assert.equal(error.code, 'KILN_REGISTRY_UNAUTHORIZED');
            assert.match(
              error.message,
              new RegExp(
                `^push ${registry.host}/anonymous/busybox: 401 Unauthorized from http://${registry.host}/v2/anonymous/busybox/blobs/.*authentication required \\(no credentials for ${registry.host}\\)$`,
              ),
            );
            return true;
          },
        );
      });

      it('refuses a wrong password with a message naming the user', async () => {
        const wrong = client.withCredentials(credentialsFor(registry, 'not-the-password'));
        const manifest = pushed.layout.images.amd64.manifest;
        await assert.rejects(
          wrong.push(`${registry.host}/wrong/busybox:v1`, { provider: t.store, descriptor: manifest }),
          (error: Error & { kind?: string }) => {
            assert.equal(error.kind, 'permission-denied');
            assert.match(
              error.message,
              auth === 'basic'
                ? /401 Unauthorized .*credentials for 127\.0\.0\.1:\d+ \(user kiln\) were rejected/
                : /token server refused user kiln/,
            );
            return true;
          },
        );
      });
    }
  });
}

describe('chunked uploads', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  let t: TempStore;
  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    pushed = await pushBusyboxIndex(registry);
    t = await tempStore();
    await pullBoth(new RegistryClient({ credentials: credentialsFor(registry) }), t, pushed);
  });
  after(async () => {
    await t?.cleanup();
    await registry?.stop();
  });

  it('sends large blobs as PATCH chunks and small ones in one PUT', async () => {
    const client = new RegistryClient({
      credentials: credentialsFor(registry),
      upload: { chunkSize: 256 * 1024, singlePutMax: 64 * 1024 },
    });
    const { layer, config } = pushed.layout.images.arm64;
    const offsets: number[] = [];
    const open = (offset: number) => t.store.reader(layer.digest, { offset });
    assert.equal(
      await client.pushBlob(`${registry.host}/chunked/busybox`, layer, open, {
        onProgress: (o) => offsets.push(o),
      }),
      'uploaded',
    );
    const patches = await logged(registry, /^PATCH \/v2\/chunked\/busybox\/blobs\/uploads\//);
    assert.equal(patches.length, Math.ceil(layer.size / (256 * 1024)));
    assert.deepEqual(offsets.slice(0, 2), [256 * 1024, 512 * 1024]);
    assert.equal(offsets.at(-1), layer.size);
    assert.equal(
      await client.pushBlob(`${registry.host}/chunked/busybox`, config, (o) =>
        t.store.reader(config.digest, { offset: o }),
      ),
      'uploaded',
    );
    assert.equal(
      (await logged(registry, /^PATCH \/v2\/chunked\/busybox\/blobs\/uploads\//)).length,
      patches.length,
    );
    assert.equal(await client.pushBlob(`${registry.host}/chunked/busybox`, layer, open), 'exists');
  });

  it('falls back to one PUT when the registry refuses PATCH', async () => {
    const proxy = await startFaultyProxy(registry.host, (req) =>
      req.method === 'PATCH' ? { kind: 'status', status: 405 } : undefined,
    );
    try {
      const client = new RegistryClient({
        credentials: async (host) =>
          host === proxy.host ? { username: registry.username!, secret: registry.password! } : undefined,
        upload: { chunkSize: 256 * 1024, singlePutMax: 64 * 1024 },
      });
      const { layer } = pushed.layout.images.amd64;
      const result = await client.pushBlob(`${proxy.host}/fallback/busybox`, layer, (offset) =>
        t.store.reader(layer.digest, { offset }),
      );
      assert.equal(result, 'uploaded');
      assert.equal(proxy.seen.filter((l) => l.startsWith('PATCH ') && l.endsWith('[status]')).length, 1);
      assert.equal(proxy.seen.filter((l) => l.startsWith('PUT ') && l.includes('digest=')).length, 1);
      assert.equal(
        await client.pushBlob(`${proxy.host}/fallback/busybox`, layer, () => t.store.reader(layer.digest)),
        'exists',
      );
    } finally {
      await proxy.stop();
    }
  });
});
