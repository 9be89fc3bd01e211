import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCacheExport, parseCacheImport } from '../index.js';

describe('--export-cache / --import-cache attributes', () => {
  it("takes BuildKit's defaults: mode=min, OCI media types, gzip, the index layout", () => {
    const o = parseCacheExport({ type: 'registry', attrs: { ref: 'r.example/a/b:cache', mode: 'min' } });
    assert.deepEqual(
      { ...o },
      {
        type: 'registry',
        ref: 'r.example/a/b:cache',
        mode: 'min',
        compression: 'gzip',
        level: undefined,
        force: false,
        oci: true,
        ignoreError: false,
        cacheMounts: false,
        imageManifest: false,
        insecure: false,
      },
    );
  });

  it('reads every option kiln implements', () => {
    const o = parseCacheExport({
      type: 'local',
      attrs: {
        dest: '/tmp/x',
        mode: 'max',
        compression: 'zstd',
        'compression-level': '9',
        'force-compression': 'true',
        'ignore-error': 'true',
        'image-manifest': 'true',
        'cache-mounts': 'true',
        tag: 'v1',
      },
    });
    assert.equal(o.type, 'local');
    assert.equal(o.mode, 'max');
    assert.equal(o.compression, 'zstd');
    assert.equal(o.level, 9);
    assert.equal(o.force, true);
    assert.equal(o.ignoreError, true);
    assert.equal(o.cacheMounts, true);
    assert.ok(o.type === 'local' && o.imageManifest && o.dest === '/tmp/x');
    assert.equal(
      parseCacheExport({ type: 'inline', attrs: { mode: 'max' } }).mode,
      'min',
      'inline is min only',
    );
  });

  it('refuses what cannot work, naming the attribute', () => {
    const cases = [
      [{ type: 'registry', attrs: {} }, /needs the attribute ref/],
      [{ type: 'registry', attrs: { ref: 'host/repo:bad tag' } }, /not an image reference/],
      [{ type: 'local', attrs: { dest: '/x', mode: 'all' } }, /invalid cache mode "all"/],
      [
        { type: 'local', attrs: { dest: '/x', 'oci-mediatypes': 'false', 'image-manifest': 'true' } },
        /needs OCI media types/,
      ],
      [{ type: 'registry', attrs: { ref: 'a/b', compression: 'lz4' } }, /compression must be/],
      [{ type: 'gha', attrs: {} }, /cache exporter "gha" is not supported/],
    ] as const;
    for (const [entry, message] of cases) assert.throws(() => parseCacheExport(entry), message);
  });

  it('imports: registry refs, and local directories by the digest buildctl adds', () => {
    assert.deepEqual(parseCacheImport({ type: 'registry', attrs: { ref: 'r.example/a:c' } }), {
      type: 'registry',
      ref: 'r.example/a:c',
      insecure: false,
      cacheMounts: true,
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    const local = parseCacheImport({ type: 'local', attrs: { src: '/c', digest, 'cache-mounts': 'false' } });
    assert.deepEqual(local, { type: 'local', src: '/c', digest, cacheMounts: false });
    assert.throws(
      () => parseCacheImport({ type: 'local', attrs: { src: '/c' } }),
      /needs the attribute digest/,
    );
    assert.throws(
      () => parseCacheImport({ type: 'local', attrs: { src: '/c', digest: 'md5:x' } }),
      /not a sha256 digest/,
    );
    assert.throws(() => parseCacheImport({ type: 's3', attrs: {} }), /cache importer "s3" is not supported/);
  });
});
