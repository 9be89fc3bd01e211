import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCacheConfig } from '../../exporters/index.js';
import { image, mkfile, type State } from '../../llb/index.js';
import { MediaType } from '../../oci/index.js';
import { buildctl } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { assertAllCached, build, treeListing } from './harness.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

describe('local and inline caches through kilnd and the real buildctl', { skip }, () => {
  let daemon: KilndProcess;
  let registry: TestRegistry;
  let work: string;
  let state: State;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-cache-local-'));
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    daemon = await startKilnd();
    state = image(`${registry.host}/library/busybox:latest`)
      .file(mkfile('/etc/app.conf', 0o600, 'conf\n'))
      .run({ args: ['/bin/sh', '-c', 'head -c 200000 /dev/urandom > /blob; ln -s /blob /link'] })
      .root();
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('type=local: an OCI layout in the client directory; after prune --all every step is CACHED', async () => {
    const dir = join(work, 'cache-dir');
    const out1 = join(work, 'local-1');
    await buildctl(daemon.address, ['prune', '--all']);
    const first = await build(
      daemon.address,
      state,
      ['--output', `type=local,dest=${out1}`, '--export-cache', `type=local,dest=${dir},mode=max`],
      daemon.logs,
    );
    assert.match(first.stderr, /exporting cache to client directory/);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }>;
    };
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0]!.annotations['org.opencontainers.image.ref.name'], 'latest');
    const blobs = await readdir(join(dir, 'blobs', 'sha256'));
    const top = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8'),
    ) as { manifests: Array<{ mediaType: string; digest: string }> };
    assert.equal(blobs.length, top.manifests.length + 1, 'every listed blob plus the index');
    const configDesc = top.manifests.find((m) => m.mediaType === MediaType.buildkitCacheConfig)!;
    const config = parseCacheConfig(
      await readFile(join(dir, 'blobs', 'sha256', configDesc.digest.slice(7))),
      'test',
    );
    // A kiln key per step, and the image's two BuildKit roots (the file op ends BuildKit's keys).
    assert.equal(config.records.length, 5);

    await buildctl(daemon.address, ['prune', '--all']);
    const out2 = join(work, 'local-2');
    const second = await build(
      daemon.address,
      state,
      ['--output', `type=local,dest=${out2}`, '--import-cache', `type=local,src=${dir}`],
      daemon.logs,
    );
    assertAllCached(second.stderr, 3);
    assert.deepEqual(await treeListing(out2), await treeListing(out1));
  });

  it('type=inline: the image carries the cache; importing the image gives CACHED steps', async () => {
    const name = `${registry.host}/inline/app:1`;
    const out1 = join(work, 'inline-1');
    await buildctl(daemon.address, ['prune', '--all']);
    await build(
      daemon.address,
      state,
      ['--output', `type=image,name=${name},push=true`, '--export-cache', 'type=inline'],
      daemon.logs,
    );
    const res = await fetch(`http://${registry.host}/v2/inline/app/manifests/1`, {
      headers: { accept: MediaType.dockerManifest },
    });
    const manifest = (await res.json()) as { config: { digest: string }; layers: unknown[] };
    const configRes = await fetch(`http://${registry.host}/v2/inline/app/blobs/${manifest.config.digest}`);
    const config = (await configRes.json()) as Record<string, unknown>;
    const inline = config['moby.buildkit.cache.v0'];
    assert.equal(typeof inline, 'string');
    const records = JSON.parse(Buffer.from(inline as string, 'base64').toString()) as Array<{
      digest: string;
      layers: Array<{ layer: number }>;
    }>;
    // kiln's keys of busybox, the file and the run, and BuildKit's two keys of the image.
    assert.equal(records.length, 5);
    assert.deepEqual([...new Set(records.map((r) => r.layers[0]!.layer))].sort(), [0, 1, 2]);

    await buildctl(daemon.address, ['prune', '--all']);
    const second = await build(
      daemon.address,
      state,
      [
        '--output',
        `type=local,dest=${out1}`,
        // Several imports at once: a missing one and an unrelated local one change nothing.
        '--import-cache',
        `type=registry,ref=${registry.host}/inline/none:1`,
        '--import-cache',
        `type=local,src=${join(work, 'cache-dir')}`,
        '--import-cache',
        `type=registry,ref=${name}`,
      ],
      daemon.logs,
    );
    assertAllCached(second.stderr, 3);
    assert.equal((await readFile(join(out1, 'etc', 'app.conf'), 'utf8')).trim(), 'conf');
  });
});
