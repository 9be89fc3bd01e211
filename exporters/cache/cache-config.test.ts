import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { MediaType, sha256, type Digest } from '../../oci/index.js';
import { ExecOpSchema, MountType } from '../../proto/gen/pb/ops_pb.js';
import {
  bkExecDigest,
  bkRecordDigest,
  BuildKitRecords,
  cacheIndex,
  ConfigBuilder,
  marshalCacheConfig,
  parseCacheConfig,
  parseCacheTop,
  positionOn,
  sortConfig,
  type ChainLayer,
} from '../index.js';

const d = (n: number): Digest => sha256(`blob-${n}`);
const layer = (n: number, snapshot?: string): ChainLayer => ({
  descriptor: { mediaType: MediaType.ociLayerGzip, digest: d(n), size: n },
  diffId: sha256(`diff-${n}`),
  createdAt: new Date(Date.UTC(2024, 0, 1, 0, 0, n)),
  ...(snapshot ? { snapshot } : {}),
});

describe('cache config (cacheconfig.v0)', () => {
  it('is written as Go writes BuildKit structs: parent 0 omitted, -1 kept, zero times, sorted', () => {
    const builder = new ConfigBuilder();
    builder.addKeyed('sha256:ffff', [layer(2), layer(1)]);
    builder.addKeyed('sha256:0000', [layer(2)]);
    const text = marshalCacheConfig(sortConfig(builder.config())).toString();
    const layers = [d(1), d(2)].sort();
    const base = layers.indexOf(d(2));
    assert.equal(
      text,
      JSON.stringify({
        layers: layers.map((blob) =>
          blob === d(2) ? { blob, parent: -1 } : { blob, ...(base !== 0 ? { parent: base } : {}) },
        ),
        records: [
          { layers: [{ layer: base, createdAt: '2024-01-01T00:00:02Z' }], digest: 'sha256:0000' },
          { layers: [{ layer: 1 - base, createdAt: '2024-01-01T00:00:01Z' }], digest: 'sha256:ffff' },
        ],
      }),
    );
    const back = parseCacheConfig(Buffer.from(text), 'test');
    assert.equal(marshalCacheConfig(back).toString(), text, 'parse and write round-trips');
  });

  it('shares layers between chains by (blob, parent) and keeps the first chain of a key', () => {
    const b = new ConfigBuilder();
    b.addKeyed('k1', [layer(1), layer(2)]);
    b.addKeyed('k2', [layer(1), layer(2), layer(3)]);
    b.addKeyed('k3', [layer(2)]);
    b.addKeyed('k1', [layer(9)]);
    const c = b.config();
    assert.equal(c.layers.length, 4, 'blob 2 on blob 1, and blob 2 alone, are two layers');
    assert.equal(c.records.length, 3);
    assert.deepEqual([...b.blobs.keys()].sort(), [d(1), d(2), d(3)].sort());
  });

  it('refuses configs kiln would misread, and reads a missing parent as 0', () => {
    const bad = [
      [{ layers: [{ blob: d(1), parent: 3 }] }, /names layer 3 of 1/],
      [{ layers: [{ blob: d(1), parent: 1 }, { blob: d(2) }] }, /looping parent chain/],
      [{ layers: [{ blob: 'nope' }] }, /no blob digest/],
      [{ records: [{ digest: 'x', inputs: [[{ link: 4 }]] }] }, /links to record 4/],
      [{ records: [{ digest: 'x', layers: [{ layer: 0 }] }] }, /names layer 0 of 0/],
    ] as const;
    for (const [config, message] of bad) {
      assert.throws(() => parseCacheConfig(Buffer.from(JSON.stringify(config)), 'test'), message);
    }
    const ok = parseCacheConfig(
      Buffer.from(JSON.stringify({ layers: [{ blob: d(1), parent: -1 }, { blob: d(2) }], extra: 1 })),
      't',
    );
    assert.equal(ok.layers[1]!.parent, 0);
  });

  it('sorting rewrites parents, results and links', () => {
    const sorted = sortConfig({
      layers: [
        { blob: d(1), parent: -1 },
        { blob: d(2), parent: 0 },
      ],
      records: [
        { digest: 'z', results: [{ layer: 1 }] },
        { digest: 'a', inputs: [[{ link: 0 }]] },
      ],
    });
    const i1 = sorted.layers.findIndex((l) => l.blob === d(1));
    const i2 = sorted.layers.findIndex((l) => l.blob === d(2));
    assert.equal(sorted.layers[i2]!.parent, i1);
    assert.deepEqual(
      sorted.records.map((r) => r.digest),
      ['a', 'z'],
    );
    assert.equal(sorted.records[1]!.results![0]!.layer, i2);
    assert.equal(sorted.records[0]!.inputs![0]![0]!.link, 1);
  });
});

describe('cache index layouts', () => {
  const config = { mediaType: MediaType.buildkitCacheConfig, digest: d(100), size: 10 };
  const layers = [{ mediaType: MediaType.ociLayerGzip, digest: d(1), size: 1 }];

  it('an index of layers and the config, or an image manifest; both read back as a cache', () => {
    for (const [options, mediaType] of [
      [{ oci: true, imageManifest: false }, MediaType.ociIndex],
      [{ oci: false, imageManifest: false }, MediaType.dockerManifestList],
      [{ oci: true, imageManifest: true }, MediaType.ociManifest],
    ] as const) {
      const index = cacheIndex(layers, config, options);
      assert.equal(index.descriptor.mediaType, mediaType);
      assert.equal(index.descriptor.digest, sha256(index.bytes));
      const top = parseCacheTop(index.bytes, index.descriptor.mediaType, 'test');
      assert.equal(top.kind, 'cache');
      if (top.kind === 'cache') {
        assert.equal(top.config.digest, config.digest);
        assert.deepEqual(
          top.layers.map((l) => l.digest),
          [d(1)],
        );
      }
    }
  });

  it('an image (or an index of images) is read for inline caches', () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { ...config, mediaType: MediaType.ociConfig },
        layers,
      }),
    );
    const top = parseCacheTop(manifest, MediaType.ociManifest, 'test');
    assert.equal(top.kind, 'images');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: d(5),
            size: 5,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    const images = parseCacheTop(index, MediaType.ociIndex, 'test');
    assert.ok(images.kind === 'images' && images.manifests.length === 1);
    assert.throws(() => parseCacheTop(Buffer.from('[1]'), '', 'test'), /not a JSON object/);
  });
});

describe('results on a chain', () => {
  it('matches local results by snapshot and imported ones by their blobs', () => {
    const chain = [layer(1, 's1'), layer(2, 's2'), layer(3, 's3')];
    assert.equal(positionOn({ snapshot: 's2' }, chain), 1);
    assert.equal(positionOn({ snapshot: 'elsewhere' }, chain), undefined);
    const lazy = (blobs: number[]) => ({
      snapshot: undefined,
      lazy: {
        layers: blobs.map((n) => ({ descriptor: layer(n).descriptor, diffId: layer(n).diffId })),
        materialize: async () => undefined,
      },
    });
    assert.equal(positionOn(lazy([1, 2]), chain), 1);
    assert.equal(positionOn(lazy([2]), chain), undefined, 'a prefix from the base only');
    assert.equal(positionOn(lazy([1, 2, 3, 4]), chain), undefined);
  });
});

describe("BuildKit's keys", () => {
  it('an exec digest is over Go JSON of the op without a lone root mount, selectors or proxy env', () => {
    const exec = create(ExecOpSchema, {
      meta: {
        args: ['/bin/sh', '-c', 'echo <&>'],
        env: ['PATH=/bin'],
        cwd: '/',
        proxyEnv: { httpProxy: 'http://proxy' },
      },
      mounts: [{ input: 0n, dest: '/', output: 0n, mountType: MountType.BIND, selector: '/ignored' }],
    });
    const json =
      '{"Type":"buildkit.exec.v0","Exec":{"meta":{"args":["/bin/sh","-c","echo \\u003c\\u0026\\u003e"],"env":["PATH=/bin"],"cwd":"/"}},"OS":"linux","Arch":"arm64","Variant":"v8"}';
    assert.equal(bkExecDigest(exec, { os: 'linux', architecture: 'arm64', variant: 'v8' }), sha256(json));
    const withCache = create(ExecOpSchema, {
      meta: { args: ['true'] },
      mounts: [
        { input: 0n, dest: '/', output: 0n },
        { input: -1n, dest: '/c', output: -1n, mountType: MountType.CACHE, cacheOpt: { ID: 'c' } },
      ],
    });
    const json2 =
      '{"Type":"buildkit.exec.v0","Exec":{"meta":{"args":["true"]},"mounts":[{"input":0,"dest":"/","output":0},{"input":-1,"dest":"/c","output":-1,"mountType":3,"cacheOpt":{"ID":"c"}}]},"OS":"linux","Arch":"amd64"}';
    assert.equal(bkExecDigest(withCache, { os: 'linux', architecture: 'amd64' }), sha256(json2));
  });

  it('records are found by root digest, then through links from every input', () => {
    const records = new BuildKitRecords({
      layers: [],
      records: [
        { digest: 'root-a' },
        { digest: 'root-b' },
        { digest: 'child', inputs: [[{ link: 0 }], [{ link: 1 }]] },
        { digest: 'child', inputs: [[{ link: 0 }], [{ link: 0 }]] },
        { digest: 'other', inputs: [[{ link: 0, selector: 'sha256:sel' }]] },
      ],
    });
    assert.deepEqual(records.roots('root-a'), [0]);
    assert.deepEqual(records.roots('child'), []);
    assert.deepEqual(records.linked('child', [[0], [1]]), [2]);
    assert.deepEqual(records.linked('child', [[0], [0, 1]]).sort(), [2, 3]);
    assert.deepEqual(records.linked('other', [[0]]), [], 'links with a selector need content hashes');
    assert.equal(bkRecordDigest('sha256:abc', 1), sha256('sha256:abc@1'));
  });
});
