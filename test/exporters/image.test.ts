import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { readBlob } from '../../content/index.js';
import { MediaType, sha256, type Digest } from '../../oci/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import {
  copyToLayout,
  frontendConfig,
  inspectRaw,
  job,
  layoutBlob,
  multiResult,
  runImage,
  singleResult,
  world,
  type World,
} from './harness.js';

interface Manifest {
  mediaType: string;
  config: { digest: Digest; mediaType: string };
  layers: Array<{ digest: Digest; mediaType: string; size: number }>;
  annotations?: Record<string, string>;
}

const decodeDescriptor = (response: Record<string, string>) =>
  JSON.parse(Buffer.from(response['containerimage.descriptor']!, 'base64').toString()) as Record<
    string,
    unknown
  >;

describe('image exporter', () => {
  let w: World;
  let registry: TestRegistry;
  let scratch: string;

  before(async () => {
    [w, registry] = await Promise.all([world(), startRegistry({ auth: 'none' })]);
    scratch = await mkdtemp(join(tmpdir(), 'kiln-exporters-scratch-'));
    await pushBusyboxIndex(registry);
  });

  after(async () => {
    await registry?.stop();
    await w?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('pushes a single-platform image that skopeo reads and runc runs', async () => {
    const top = await w.addLayer(w.base.amd64, { 'hello.txt': 'hello from kiln\n' });
    const config = frontendConfig('amd64', ['/bin/sh', '-c', 'cat /hello.txt; echo $GREETING']);
    const name = `${registry.host}/test/app:v1`;
    const response = await w.exporters.export(
      { type: 'image', attrs: { name, push: 'true' } },
      singleResult({ snapshot: top }, config),
      job(),
    );
    const raw = await inspectRaw(registry, 'test/app:v1');
    assert.equal(response['containerimage.digest'], sha256(raw));
    assert.equal(response['image.name'], name);
    const manifest = JSON.parse(raw.toString()) as Manifest;
    assert.equal(manifest.mediaType, MediaType.dockerManifest);
    assert.equal(manifest.config.mediaType, MediaType.dockerConfig);
    assert.equal(response['containerimage.config.digest'], manifest.config.digest);
    assert.deepEqual(decodeDescriptor(response), {
      mediaType: MediaType.dockerManifest,
      digest: sha256(raw),
      size: raw.length,
      platform: { architecture: 'amd64', os: 'linux' },
    });
    // The base layer is reused exactly as pulled (only its media type follows the manifest's).
    assert.equal(manifest.layers.length, 2);
    assert.equal(manifest.layers[0]!.digest, w.layout.images.amd64.layer.digest);
    assert.equal(manifest.layers[0]!.mediaType, MediaType.dockerLayerGzip);

    const image = JSON.parse((await inspectRaw(registry, 'test/app:v1', true)).toString()) as {
      rootfs: { diff_ids: string[] };
      history: Array<{ created_by?: string; empty_layer?: boolean; comment?: string }>;
      config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] };
    };
    const layout = await copyToLayout(registry, 'test/app:v1', scratch);
    const uncompressed = await Promise.all(
      manifest.layers.map(
        async (l) =>
          `sha256:${createHash('sha256')
            .update(gunzipSync(await layoutBlob(layout, l.digest)))
            .digest('hex')}`,
      ),
    );
    assert.deepEqual(image.rootfs.diff_ids, uncompressed);
    assert.deepEqual(
      image.history.map((h) => [h.created_by, h.empty_layer ?? false]),
      [
        ['kiln test fixture: busybox-static', false],
        ['COPY hello.txt / # buildkit', false],
        ['CMD ["cat" "/hello.txt"]', true],
      ],
    );
    assert.deepEqual(image.config.Labels, { 'org.kiln.test': 'yes' });
    assert.ok(image.config.Env.includes('GREETING=hi'));
    const out = await runImage(layout, image.config.Cmd, image.config.Env);
    assert.equal(out, 'hello from kiln\nhi\n');
  });

  it('starts uploading the base layer while the new layer is still being compressed', async () => {
    const key = `early-active-${process.pid}`;
    await w.snapshotter.prepare(key, w.base.amd64);
    const { dir } = await w.snapshotter.writableLayer(key);
    await writeFile(join(dir, 'noise.bin'), randomBytes(24 << 20));
    await w.snapshotter.commit(`early-top-${process.pid}`, key);
    const j = job();
    await w.exporters.export(
      {
        type: 'image',
        attrs: { name: `${registry.host}/test/early:v1`, push: 'true', 'compression-level': '9' },
      },
      singleResult({ snapshot: `early-top-${process.pid}` }, frontendConfig('amd64', ['true'])),
      j,
    );
    const statuses = j.progress.events().flatMap((e) => (e.type === 'status' ? [e.status] : []));
    // Started, not finished: how fast the registry takes the upload is not the point.
    const uploadStarted = statuses.find((s) => s.id === w.layout.images.amd64.layer.digest)?.started;
    const layersExported = statuses.findLast((s) => s.id === 'exporting layers' && s.completed)?.completed;
    assert.ok(uploadStarted && layersExported, 'both steps reported');
    assert.ok(
      uploadStarted < layersExported,
      `base layer upload started at ${uploadStarted.toISOString()}, layers exported at ${layersExported.toISOString()}`,
    );
    const manifest = JSON.parse((await inspectRaw(registry, 'test/early:v1')).toString()) as Manifest;
    assert.equal(manifest.layers[0]!.digest, w.layout.images.amd64.layer.digest);
  });

  it('pushes a multi-platform index whose entries name both platforms', async () => {
    const [amd, arm] = await Promise.all([
      w.addLayer(w.base.amd64, { 'hello.txt': 'amd\n' }),
      w.addLayer(w.base.arm64, { 'hello.txt': 'arm\n' }),
    ]);
    const response = await w.exporters.export(
      {
        type: 'image',
        attrs: { name: `${registry.host}/test/multi:latest`, push: 'true', 'oci-mediatypes': 'true' },
      },
      multiResult([
        { id: 'linux/amd64', ref: { snapshot: amd }, config: frontendConfig('amd64', ['cat', '/hello.txt']) },
        { id: 'linux/arm64', ref: { snapshot: arm }, config: frontendConfig('arm64', ['cat', '/hello.txt']) },
      ]),
      job(),
    );
    const raw = await inspectRaw(registry, 'test/multi:latest');
    const index = JSON.parse(raw.toString()) as {
      mediaType: string;
      manifests: Array<{ platform: unknown; digest: string }>;
    };
    assert.equal(index.mediaType, MediaType.ociIndex);
    assert.deepEqual(
      index.manifests.map((m) => m.platform),
      [
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux' },
      ],
    );
    assert.equal(response['containerimage.digest'], sha256(raw));
    assert.equal(response['containerimage.config.digest'], undefined);
    const arm64 = JSON.parse(
      (await inspectRaw(registry, `test/multi@${index.manifests[1]!.digest}`)).toString(),
    ) as Manifest;
    assert.equal(arm64.layers[0]!.digest, w.layout.images.arm64.layer.digest);
    // skopeo can copy every platform of it.
    await copyToLayout(registry, 'test/multi:latest', scratch, ['--all']);
  });

  it('gives byte-identical images for the same inputs with SOURCE_DATE_EPOCH and rewrite-timestamp', async () => {
    const digests = async (attrs: Record<string, string>) => {
      const out: string[] = [];
      for (const mtime of [1_900_000_000, 1_950_000_000]) {
        const top = await w.addLayer(w.base.amd64, { 'app/data.txt': 'same bytes\n' }, mtime);
        const response = await w.exporters.export(
          { type: 'image', attrs },
          singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
          job({ 'build-arg:SOURCE_DATE_EPOCH': '1700000000' }),
        );
        out.push(response['containerimage.digest']!);
      }
      return out;
    };
    const [a, b] = await digests({ 'rewrite-timestamp': 'true' });
    assert.equal(a, b);
    const [c, d] = await digests({});
    assert.notEqual(c, d, 'without rewrite-timestamp the file times differ, so must the layers');
    const manifest = JSON.parse((await readBlob(w.content, a as Digest)).toString()) as Manifest;
    const config = JSON.parse((await readBlob(w.content, manifest.config.digest)).toString()) as {
      created: string;
      history: Array<{ created: string }>;
    };
    assert.equal(config.created, '2023-11-14T22:13:20Z');
    assert.ok(config.history.every((h) => h.created <= '2023-11-14T22:13:20Z'));
  });

  it('pushes only the changed top layer when re-exporting, and mounts blobs across repositories', async () => {
    const first = await w.addLayer(w.base.amd64, { 'v.txt': 'one\n' });
    await w.exporters.export(
      { type: 'image', attrs: { name: `${registry.host}/test/incr:1`, push: 'true' } },
      singleResult({ snapshot: first }, frontendConfig('amd64', ['true'])),
      job(),
    );
    await registry.settle();
    const before = registry.requestLog().length;
    const second = await w.addLayer(w.base.amd64, { 'v.txt': 'two\n' });
    await w.exporters.export(
      { type: 'image', attrs: { name: `${registry.host}/test/incr:2`, push: 'true' } },
      singleResult({ snapshot: second }, frontendConfig('amd64', ['true'])),
      job(),
    );
    await registry.settle();
    const log = registry.requestLog().slice(before);
    const uploads = log.filter((l) => /^PUT \/v2\/test\/incr\/blobs\/uploads\//.test(l));
    assert.equal(uploads.length, 2, `new layer and new config only:\n${log.join('\n')}`);
    assert.ok(
      log.some((l) => l.startsWith(`HEAD /v2/test/incr/blobs/${w.layout.images.amd64.layer.digest} 200`)),
    );

    await registry.settle();
    const mark = registry.requestLog().length;
    await w.exporters.export(
      { type: 'image', attrs: { name: `${registry.host}/test/other:1`, push: 'true' } },
      singleResult({ snapshot: second }, frontendConfig('amd64', ['true'])),
      job(),
    );
    await registry.settle();
    const mounts = registry
      .requestLog()
      .slice(mark)
      .filter((l) => /^POST \/v2\/test\/other\/blobs\/uploads\/\?mount=\S+&from=test%2F\S+ 201/.test(l));
    assert.equal(
      mounts.length,
      3,
      `base layer, new layer and config mounted:\n${registry.requestLog().slice(mark).join('\n')}`,
    );
  });

  it('writes OCI types, zstd when forced, annotations, and a provenance attestation', async () => {
    const top = await w.addLayer(w.base.amd64, { 'z.txt': 'zstd\n' });
    const response = await w.exporters.export(
      {
        type: 'image',
        attrs: {
          name: `${registry.host}/test/zstd:1`,
          push: 'true',
          compression: 'zstd',
          'force-compression': 'true',
          'annotation.org.opencontainers.image.title': 'kiln test',
        },
      },
      singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
      job({ 'attest:provenance': 'mode=min', 'build-arg:SECRET_ISH': 'x', frontend: 'dockerfile.v0' }),
    );
    const index = JSON.parse((await inspectRaw(registry, 'test/zstd:1')).toString()) as {
      manifests: Array<{ digest: string; platform: unknown; annotations?: Record<string, string> }>;
    };
    assert.equal(index.manifests.length, 2);
    const [image, attestation] = index.manifests;
    assert.deepEqual(attestation!.platform, { architecture: 'unknown', os: 'unknown' });
    assert.deepEqual(attestation!.annotations, {
      'vnd.docker.reference.digest': image!.digest,
      'vnd.docker.reference.type': 'attestation-manifest',
    });
    const manifest = JSON.parse(
      (await inspectRaw(registry, `test/zstd@${image!.digest}`)).toString(),
    ) as Manifest;
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      [MediaType.ociLayerZstd, MediaType.ociLayerZstd],
    );
    assert.notEqual(manifest.layers[0]!.digest, w.layout.images.amd64.layer.digest);
    assert.deepEqual(manifest.annotations, { 'org.opencontainers.image.title': 'kiln test' });
    const att = JSON.parse(
      (await inspectRaw(registry, `test/zstd@${attestation!.digest}`)).toString(),
    ) as Manifest;
    const layout = await copyToLayout(registry, `test/zstd@${attestation!.digest}`, scratch);
    const statement = JSON.parse((await layoutBlob(layout, att.layers[0]!.digest)).toString()) as {
      predicateType: string;
      subject: Array<{ name: string; digest: { sha256: string } }>;
      predicate: { invocation: { parameters: { frontend: string; args?: Record<string, string> } } };
    };
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v0.2');
    assert.deepEqual(statement.subject, [
      {
        name: `pkg:docker/${registry.host.replace(':', '%3A')}/test/zstd@1?platform=linux%2Famd64`,
        digest: { sha256: image!.digest.slice(7) },
      },
    ]);
    assert.equal(statement.predicate.invocation.parameters.frontend, 'dockerfile.v0');
    assert.equal(
      statement.predicate.invocation.parameters.args?.['build-arg:SECRET_ISH'],
      undefined,
      'min mode drops build args',
    );
    assert.equal(
      response['containerimage.digest'],
      index.manifests.length === 2 ? sha256(await inspectRaw(registry, 'test/zstd:1')) : '',
    );
    // The runc check works on zstd layers too.
    const runnable = await copyToLayout(registry, `test/zstd@${image!.digest}`, scratch);
    assert.equal(await runImage(runnable, ['cat', '/z.txt'], ['PATH=/bin']), 'zstd\n');
  });

  it('names the frontend the result came from when Control.Solve names none (docker buildx)', async () => {
    // buildx's client-side build function solves dockerfile.v0 through LLBBridge; BuildKit's
    // provenance and build info name that frontend, kiln's named an empty one.
    const top = await w.addLayer(w.base.amd64, { 'buildx.txt': 'buildx\n' });
    const attrs = { 'attest:provenance': 'mode=min', filename: 'Dockerfile' };
    const response = await w.exporters.export(
      { type: 'image', attrs: { name: `${registry.host}/test/buildx:1`, push: 'true' } },
      {
        ...singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
        frontend: { frontend: 'dockerfile.v0', frontendOpt: attrs },
      },
      job(attrs),
    );
    const info = JSON.parse(Buffer.from(response['containerimage.buildinfo']!, 'base64').toString()) as {
      frontend?: string;
    };
    assert.equal(info.frontend, 'dockerfile.v0');
    const index = JSON.parse((await inspectRaw(registry, 'test/buildx:1')).toString()) as {
      manifests: Array<{ digest: string }>;
    };
    const attestation = `test/buildx@${index.manifests[1]!.digest}`;
    const att = JSON.parse((await inspectRaw(registry, attestation)).toString()) as Manifest;
    const layout = await copyToLayout(registry, attestation, scratch);
    const statement = JSON.parse((await layoutBlob(layout, att.layers[0]!.digest)).toString()) as {
      predicate: { invocation: { parameters: { frontend?: string }; configSource: { entryPoint?: string } } };
    };
    assert.equal(statement.predicate.invocation.parameters.frontend, 'dockerfile.v0');
    assert.equal(statement.predicate.invocation.configSource.entryPoint, 'Dockerfile');
  });

  it('keeps pulled gzip layers when zstd is asked without force, and pushes by digest', async () => {
    // arm64: the amd64 base snapshot already has a zstd blob from the test above, which would be reused.
    const top = await w.addLayer(w.base.arm64, { 'd.txt': 'digest\n' });
    const response = await w.exporters.export(
      {
        type: 'image',
        attrs: {
          name: `${registry.host}/test/bydigest`,
          push: 'true',
          'push-by-digest': 'true',
          compression: 'zstd',
        },
      },
      singleResult({ snapshot: top }, frontendConfig('arm64', ['true'])),
      job(),
    );
    const digest = response['containerimage.digest']!;
    const manifest = JSON.parse(
      (await inspectRaw(registry, `test/bydigest@${digest}`)).toString(),
    ) as Manifest;
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      [MediaType.ociLayerGzip, MediaType.ociLayerZstd],
    );
    assert.equal(manifest.layers[0]!.digest, w.layout.images.arm64.layer.digest);
    const tags = await fetch(`http://${registry.host}/v2/test/bydigest/tags/list`).then(
      (r) => r.json() as Promise<{ tags: string[] | null }>,
    );
    assert.deepEqual(tags.tags ?? [], []);
    await assert.rejects(
      w.exporters.export(
        {
          type: 'image',
          attrs: { name: `${registry.host}/test/bydigest:tag`, push: 'true', 'push-by-digest': 'true' },
        },
        singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
        job(),
      ),
      /can't push tagged ref/,
    );
  });

  it('writes the image into the content store without pushing, and refuses bad requests', async () => {
    const top = await w.addLayer(w.base.amd64, { 'local.txt': 'kept\n' });
    const response = await w.exporters.export(
      { type: 'image', attrs: { name: 'example.com/never/pushed:1' } },
      singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
      job(),
    );
    const manifest = JSON.parse(
      (await readBlob(w.content, response['containerimage.digest'] as Digest)).toString(),
    ) as Manifest;
    for (const l of manifest.layers) assert.ok(await w.content.info(l.digest));
    await assert.rejects(
      w.exporters.export(
        { type: 'image', attrs: { 'annotation-index.x': '1' } },
        singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
        job(),
      ),
      /index annotations not supported for single platform export/,
    );
    await assert.rejects(
      w.exporters.export(
        { type: 'registry', attrs: {} },
        singleResult({ snapshot: top }, frontendConfig('amd64', ['true'])),
        job(),
      ),
      { code: 'KILN_EXPORTERS_UNSUPPORTED', kind: 'unimplemented' },
    );
  });
});

describe('image exporter cancellation', () => {
  let w: World;

  before(async () => {
    w = await world();
  });

  after(async () => {
    await w?.close();
  });

  it('stops when the job is cancelled and leaves no partial blob behind', async () => {
    const key = 'cancel-active';
    await w.snapshotter.prepare(key, w.base.amd64);
    const { dir } = await w.snapshotter.writableLayer(key);
    await writeFile(join(dir, 'big.bin'), randomBytes(64 << 20));
    await w.snapshotter.commit('cancel-top', key);
    const j = job();
    const started = Date.now();
    const pending = w.exporters.export(
      { type: 'image', attrs: { compression: 'gzip', 'compression-level': '9' } },
      singleResult({ snapshot: 'cancel-top' }, frontendConfig('amd64', ['true'])),
      j,
    );
    setTimeout(() => j.cancel(), 200);
    await assert.rejects(pending, (error: { kind?: string }) => error.kind === 'canceled');
    assert.ok(Date.now() - started < 3000, 'cancelled promptly');
    // The shared layer computation notices the abort on its own and cleans up shortly after.
    let debris = await readdir(join(w.dir, 'content', 'ingest'));
    for (let i = 0; i < 50 && debris.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      debris = await readdir(join(w.dir, 'content', 'ingest'));
    }
    assert.deepEqual(debris, []);
  });
});

describe('image exporter and a TLS registry with a self-signed certificate', () => {
  let w: World;
  let registry: TestRegistry;

  before(async () => {
    [w, registry] = await Promise.all([world(), startRegistry({ auth: 'none', tls: true })]);
  });

  after(async () => {
    await registry?.stop();
    await w?.close();
  });

  it('pushes only with registry.insecure=true', async () => {
    const top = await w.addLayer(w.base.amd64, { 'tls.txt': 'tls\n' });
    const result = singleResult({ snapshot: top }, frontendConfig('amd64', ['true']));
    const name = `${registry.host}/test/tls:1`;
    await assert.rejects(
      w.exporters.export({ type: 'image', attrs: { name, push: 'true' } }, result, job()),
      { code: 'KILN_EXPORTERS_PUSH' },
    );
    const response = await w.exporters.export(
      { type: 'image', attrs: { name, push: 'true', 'registry.insecure': 'true' } },
      result,
      job(),
    );
    assert.equal(response['containerimage.digest'], sha256(await inspectRaw(registry, 'test/tls:1')));
  });
});
