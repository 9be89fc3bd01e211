import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../oci/index.js';
import { normalizeHistory, patchImageConfig } from './index.js';

const d = (n: number): Digest => `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest;
const t1 = new Date('2024-01-01T00:00:00Z');
const t2 = new Date('2024-02-02T00:00:00.5Z');

describe('normalizeHistory', () => {
  it('adds entries for layers the history does not describe, with their times', () => {
    const out = normalizeHistory(
      [{ created: '2020-01-01T00:00:00Z', created_by: 'base' }],
      [
        { diffId: d(1), createdAt: t1 },
        { diffId: d(2), createdAt: t2 },
      ],
    );
    assert.deepEqual(out, [
      { created: '2020-01-01T00:00:00Z', created_by: 'base' },
      {
        created: '2024-02-02T00:00:00.5Z',
        created_by: 'created by kiln',
        comment: 'buildkit.exporter.image.v0',
      },
    ]);
  });

  it('turns history that claims too many layers into empty layers, and fills gaps', () => {
    const out = normalizeHistory(
      [
        { created_by: 'a' },
        { created_by: 'ENV x=1', empty_layer: true },
        { created_by: 'b' },
        { created_by: 'c' },
      ],
      [{ diffId: d(1), createdAt: t1 }],
    );
    assert.deepEqual(
      out.map((h) => [h.created_by, h.empty_layer ?? false, h.created]),
      [
        ['a', false, '2024-01-01T00:00:00Z'],
        ['ENV x=1', true, '2024-01-01T00:00:00Z'],
        ['b', true, '2024-01-01T00:00:00Z'],
        ['c', true, '2024-01-01T00:00:00Z'],
      ],
    );
  });
});

describe('patchImageConfig', () => {
  const frontend = Buffer.from(
    JSON.stringify({
      os: 'linux',
      architecture: 'amd64',
      created: '2030-01-01T00:00:00Z',
      config: { Cmd: ['sh', '-c', 'echo a > b && true'] },
      history: [{ created: '2030-01-01T00:00:00Z', created_by: 'RUN x' }],
    }),
  );

  it('sets rootfs from the layers, sorts keys and escapes like Go', () => {
    const out = patchImageConfig(
      frontend,
      { os: 'linux', architecture: 'amd64' },
      [{ diffId: d(3), createdAt: t1 }],
      undefined,
    );
    const text = out.toString();
    assert.deepEqual(Object.keys(JSON.parse(text)), [
      'architecture',
      'config',
      'created',
      'history',
      'os',
      'rootfs',
    ]);
    assert.match(text, /echo a \\u003e b \\u0026\\u0026 true/);
    assert.deepEqual(JSON.parse(text).rootfs, { type: 'layers', diff_ids: [d(3)] });
    assert.equal(JSON.parse(text).created, '2030-01-01T00:00:00Z');
  });

  it('clamps every later time to SOURCE_DATE_EPOCH', () => {
    const out = JSON.parse(
      patchImageConfig(
        frontend,
        { os: 'linux', architecture: 'amd64' },
        [{ diffId: d(3), createdAt: t1 }],
        1_000_000_000,
      ).toString(),
    );
    assert.equal(out.created, '2001-09-09T01:46:40Z');
    assert.deepEqual(out.history, [{ created: '2001-09-09T01:46:40Z', created_by: 'RUN x' }]);
  });

  it('makes the default config when the frontend gave none', () => {
    const out = JSON.parse(
      patchImageConfig(undefined, { os: 'linux', architecture: 'arm64' }, [], undefined).toString(),
    );
    assert.equal(out.architecture, 'arm64');
    assert.deepEqual(out.config, {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: '/',
    });
    assert.deepEqual(out.rootfs, { type: 'layers', diff_ids: null });
  });

  it('refuses a config that is not a JSON object', () => {
    assert.throws(
      () => patchImageConfig(Buffer.from('[1]'), { os: 'linux', architecture: 'amd64' }, [], undefined),
      { code: 'KILN_EXPORTERS_RESULT_SHAPE' },
    );
  });
});
