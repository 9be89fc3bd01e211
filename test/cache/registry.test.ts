import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCacheConfig } from '../../exporters/index.js';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal, mkfile, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { MediaType } from '../../oci/index.js';
import { buildctl } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { assertAllCached, build, steps, treeListing } from './harness.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

async function registryJson<T>(registry: TestRegistry, path: string): Promise<T> {
  const res = await fetch(`http://${registry.host}/v2/${path}`, {
    headers: { accept: [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList].join(', ') },
  });
  assert.equal(res.status, 200, `GET ${path}`);
  return (await res.json()) as T;
}

describe('registry cache through kilnd and the real buildctl', { skip }, () => {
  let daemon: KilndProcess;
  let registry: TestRegistry;
  let work: string;
  let state: State;
  let base: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-cache-registry-'));
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    daemon = await startKilnd();
    base = `${registry.host}/library/busybox:latest`;
    state = image(base)
      .file(mkfile('/hello.txt', 0o644, 'hello cache\n'))
      .run({ args: ['/bin/sh', '-c', 'echo built > /built.txt; date +%s%N > /stamp'] })
      .root()
      .run({ args: ['/bin/sh', '-c', 'mkdir -p /out && cp /stamp /out/stamp && echo two > /out/two'] })
      .root();
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('mode=max: after prune --all every step is CACHED from the registry and the result is the same', async () => {
    const ref = `${registry.host}/cache/app:max`;
    const out1 = join(work, 'max-1');
    const meta = join(work, 'max.json');
    const first = await build(
      daemon.address,
      state,
      [
        '--output',
        `type=local,dest=${out1}`,
        '--export-cache',
        `type=registry,ref=${ref},mode=max`,
        '--metadata-file',
        meta,
      ],
      daemon.logs,
    );
    assert.match(first.stderr, /exporting cache to registry/);
    assert.match(first.stderr, /preparing build cache for export/);
    const response = JSON.parse(await readFile(meta, 'utf8')) as Record<string, string>;
    const manifest = JSON.parse(response['cache.manifest']!) as {
      mediaType: string;
      digest: string;
      size: number;
    };
    assert.equal(manifest.mediaType, MediaType.ociIndex);

    const index = await registryJson<{
      manifests: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }>;
    }>(registry, 'cache/app/manifests/max');
    const configDesc = index.manifests.at(-1)!;
    assert.equal(configDesc.mediaType, MediaType.buildkitCacheConfig);
    const layers = index.manifests.slice(0, -1);
    // busybox, the file, and the two runs.
    assert.equal(layers.length, 4);
    for (const l of layers) assert.match(l.annotations?.['containerd.io/uncompressed'] ?? '', /^sha256:/);
    const configRes = await fetch(`http://${registry.host}/v2/cache/app/blobs/${configDesc.digest}`);
    const config = parseCacheConfig(new Uint8Array(await configRes.arrayBuffer()), 'test');
    // One kiln key per step, and BuildKit's own keys for the image (manifest and config roots);
    // the file op ends the chain of keys BuildKit could use.
    assert.equal(config.records.length, 6);

    const pruned = await buildctl(daemon.address, ['prune', '--all']);
    assert.equal(pruned.code, 0, pruned.stderr);

    const out2 = join(work, 'max-2');
    const second = await build(
      daemon.address,
      state,
      ['--output', `type=local,dest=${out2}`, '--import-cache', `type=registry,ref=${ref}`],
      daemon.logs,
    );
    assert.match(second.stderr, new RegExp(`importing cache manifest from ${ref}`));
    assertAllCached(second.stderr, 4);
    assert.deepEqual(await treeListing(out2), await treeListing(out1));
  });

  it('mode=min exports the result chain; a missing cache is a note, not a failure', async () => {
    const ref = `${registry.host}/cache/app:min`;
    await buildctl(daemon.address, ['prune', '--all']);
    const missing = await build(
      daemon.address,
      state,
      [
        '--import-cache',
        `type=registry,ref=${registry.host}/cache/none:nothing`,
        '--export-cache',
        `type=registry,ref=${ref}`,
      ],
      daemon.logs,
    );
    assert.match(missing.stderr, /cache not imported/);
    const index = await registryJson<{ manifests: Array<{ mediaType: string }> }>(
      registry,
      'cache/app/manifests/min',
    );
    assert.equal(index.manifests.length, 5, 'four layers and the config');
    await buildctl(daemon.address, ['prune', '--all']);
    const again = await build(
      daemon.address,
      state,
      ['--import-cache', `type=registry,ref=${ref}`],
      daemon.logs,
    );
    assert.equal(steps(again.stderr).length, 4);
    assertAllCached(again.stderr, 4);
  });

  it('import is lazy: a fully cached build exporting its cache elsewhere downloads no layer', async () => {
    const ref = `${registry.host}/cache/app:max`;
    await buildctl(daemon.address, ['prune', '--all']);
    await registry.settle();
    const before = registry.requestLog().length;
    const again = await build(
      daemon.address,
      state,
      [
        '--import-cache',
        `type=registry,ref=${ref}`,
        '--export-cache',
        `type=registry,ref=${registry.host}/cache/other:1,mode=max`,
      ],
      daemon.logs,
    );
    assertAllCached(again.stderr, 4);
    await registry.settle();
    const log = registry.requestLog().slice(before);
    const downloads = log.filter((l) => /^GET \/v2\/cache\/app\/blobs\//.test(l));
    // Only the cache config is read; layers go to the other repository by cross-repository mount.
    assert.equal(downloads.length, 1, log.join('\n'));
    const uploads = log.filter((l) => /^(PATCH|PUT) \/v2\/cache\/other\/blobs\/uploads/.test(l));
    assert.equal(uploads.length, 1, `only the config is uploaded:\n${log.join('\n')}`);
    assert.ok(
      log.some(
        (l) =>
          /^POST \/v2\/cache\/other\/blobs\/uploads\/\?from=cache%2Fapp&mount=/.test(l) ||
          /mount=sha256/.test(l),
      ),
      log.join('\n'),
    );
  });

  it('ignore-error=true keeps a build whose cache export fails; without it the build fails', async () => {
    const dead = '127.0.0.1:9/cache/dead:1';
    await build(
      daemon.address,
      state,
      ['--export-cache', `type=registry,ref=${dead},ignore-error=true`],
      daemon.logs,
    );
    const failed = await buildctl(
      daemon.address,
      ['build', '--progress', 'plain', '--export-cache', `type=registry,ref=${dead}`],
      toBinary(DefinitionSchema, marshal(state)),
    );
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /failed to export cache to 127\.0\.0\.1:9\/cache\/dead:1/);
  });

  it('a step that is not cached runs on the imported layers of its cached parent, fetched then', async () => {
    const ref = `${registry.host}/cache/app:max`;
    // A fresh daemon: nothing in its content store, so every layer it needs comes from the cache.
    const fresh = await startKilnd();
    await registry.settle();
    const before = registry.requestLog().length;
    const out = join(work, 'changed');
    const changed = state.run({ args: ['/bin/sh', '-c', 'cat /built.txt /out/two > /combined'] }).root();
    let result;
    try {
      result = await build(
        fresh.address,
        changed,
        ['--output', `type=local,dest=${out}`, '--import-cache', `type=registry,ref=${ref}`],
        fresh.logs,
      );
    } finally {
      await fresh.dispose();
    }
    const list = steps(result.stderr);
    assert.deepEqual(
      list.map((s) => s.cached),
      [true, true, true, true, false],
      result.stderr,
    );
    assert.equal(await readFile(join(out, 'combined'), 'utf8'), 'built\ntwo\n');
    await registry.settle();
    const fetched = registry
      .requestLog()
      .slice(before)
      .filter((l) => /^GET \/v2\/cache\/app\/blobs\//.test(l));
    // The config, then the four layers under the changed step (busybox's too: its step was cached).
    assert.equal(fetched.length, 5, fetched.join('\n'));
    assert.equal(new Set(fetched).size, 5, 'each once');
  });
});
