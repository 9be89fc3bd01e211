import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCacheConfig, type CacheConfig } from '../../exporters/index.js';
import { image, type State } from '../../llb/index.js';
import { MediaType } from '../../oci/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { assertAllCached, build } from './harness.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

/** A Go-modules-style step: downloads into the cache mount unless the module is already there. */
function goBuild(base: string, variant: string): State {
  const script = [
    'if [ -f /go/pkg/mod/example.com/lib@v1.2.3/lib.go ]; then echo hit > /result; else echo miss > /result;',
    '  mkdir -p /go/pkg/mod/example.com/lib@v1.2.3 /go/pkg/mod/cache/download;',
    '  echo "package lib // $(date +%s%N)" > /go/pkg/mod/example.com/lib@v1.2.3/lib.go;',
    '  head -c 100000 /dev/urandom > /go/pkg/mod/cache/download/lib.zip;',
    '  ln -s ../../example.com /go/pkg/mod/cache/link; fi;',
    `cat /go/pkg/mod/example.com/lib@v1.2.3/lib.go >> /result; echo ${variant} >> /result`,
  ].join(' ');
  return image(base)
    .run({
      args: ['/bin/sh', '-c', script],
      mounts: [{ type: 'cache', dest: '/go/pkg/mod', id: 'go-mod' }],
    })
    .root();
}

describe('cache mounts exported with cache-mounts=true survive ephemeral daemons', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let base: string;
  const daemons: KilndProcess[] = [];

  const fresh = async (): Promise<KilndProcess> => {
    const d = await startKilnd();
    daemons.push(d);
    return d;
  };
  const cacheConfig = async (repo: string, tag: string): Promise<CacheConfig> => {
    const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: MediaType.ociIndex },
    });
    const index = (await res.json()) as { manifests: Array<{ mediaType: string; digest: string }> };
    const desc = index.manifests.find((m) => m.mediaType === MediaType.buildkitCacheConfig)!;
    const blob = await fetch(`http://${registry.host}/v2/${repo}/blobs/${desc.digest}`);
    return parseCacheConfig(new Uint8Array(await blob.arrayBuffer()), 'test');
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-cache-mounts-'));
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    base = `${registry.host}/library/busybox:latest`;
  });

  after(async () => {
    for (const d of daemons) await d.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a fresh daemon restores the mount before the first step that uses it', async () => {
    const ref = `${registry.host}/cm/app:1`;
    const first = await fresh();
    const out1 = join(work, 'first');
    await build(
      first.address,
      goBuild(base, 'one'),
      [
        '--output',
        `type=local,dest=${out1}`,
        '--export-cache',
        `type=registry,ref=${ref},mode=max,cache-mounts=true`,
      ],
      first.logs,
    );
    const written = await readFile(join(out1, 'result'), 'utf8');
    assert.match(written, /^miss\npackage lib/);
    const config = await cacheConfig('cm/app', '1');
    assert.deepEqual(
      config.cacheMounts?.map((m) => ({ id: m.id, platform: m.platform })),
      [{ id: 'go-mod', platform: 'linux/amd64' }],
    );
    await first.dispose();

    // Another step (not in the cache) on a new daemon finds the module the first one downloaded.
    const second = await fresh();
    const out2 = join(work, 'second');
    await build(
      second.address,
      goBuild(base, 'two'),
      ['--output', `type=local,dest=${out2}`, '--import-cache', `type=registry,ref=${ref}`],
      second.logs,
    );
    const found = await readFile(join(out2, 'result'), 'utf8');
    assert.equal(found, `hit\n${written.split('\n')[1]}\ntwo\n`);
  });

  it('a fully cached build re-exports the imported mount contents it never unpacked', async () => {
    const third = await fresh();
    const again = await build(
      third.address,
      goBuild(base, 'one'),
      [
        '--import-cache',
        `type=registry,ref=${registry.host}/cm/app:1`,
        '--export-cache',
        `type=registry,ref=${registry.host}/cm/app:2,mode=max,cache-mounts=true`,
      ],
      third.logs,
    );
    assertAllCached(again.stderr, 2);
    const before = await cacheConfig('cm/app', '1');
    const now = await cacheConfig('cm/app', '2');
    const blobOf = (c: CacheConfig) => c.layers[c.cacheMounts![0]!.layer]!.blob;
    assert.equal(blobOf(now), blobOf(before));
  });

  it('cache-mounts=false on the import leaves the directory empty', async () => {
    const fourth = await fresh();
    const out = join(work, 'fourth');
    await build(
      fourth.address,
      goBuild(base, 'four'),
      [
        '--output',
        `type=local,dest=${out}`,
        '--import-cache',
        `type=registry,ref=${registry.host}/cm/app:1,cache-mounts=false`,
      ],
      fourth.logs,
    );
    assert.match(await readFile(join(out, 'result'), 'utf8'), /^miss\n/);
  });
});
