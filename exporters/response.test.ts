import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../oci/index.js';
import type { BuildSources } from '../solver/index.js';
import { buildInfo, buildInfoResponse } from './response.js';

// BuildKit v0.11 adds build info to every build's response whatever the output, keyed per
// platform for multi-platform results (docker buildx --metadata-file shows it).
describe('buildInfoResponse', () => {
  const info = buildInfo('dockerfile.v0', { filename: 'Dockerfile', 'attest:provenance': 'mode=min' });

  it('names the frontend and its options, without host-specific and attest: ones', () => {
    assert.deepEqual(JSON.parse(Buffer.from(info!, 'base64').toString()), {
      frontend: 'dockerfile.v0',
      attrs: { filename: 'Dockerfile' },
    });
    const all = buildInfo('dockerfile.v0', {
      'build-arg:A': '1',
      'context:extra': 'local:extra',
      'frontend.caps': 'moby.buildkit.frontend.contexts+forward',
      platform: 'linux/arm64',
      'image-resolve-mode': 'pull',
      context: 'https://user:pw@git.example/repo.git#main',
      'context:base': 'https://token@git.example/base.git',
    });
    assert.deepEqual(JSON.parse(Buffer.from(all!, 'base64').toString()).attrs, {
      'build-arg:A': '1',
      context: 'https://xxxxx:xxxxx@git.example/repo.git#main',
      'context:base': 'https://xxxxx@git.example/base.git',
      'context:extra': 'local:extra',
      'frontend.caps': 'moby.buildkit.frontend.contexts+forward',
    });
  });

  it('answers containerimage.buildinfo for a single result, one key per platform otherwise', () => {
    const image = (arch: string) => ({
      ref: 'docker.io/library/busybox:latest',
      platform: { os: 'linux', architecture: arch },
      digest: `sha256:${arch === 'amd64' ? 'a' : 'b'}${'0'.repeat(63)}` as Digest,
    });
    const sourcesOf = (arch: string): BuildSources => ({
      images: [image(arch)],
      locals: [],
      secrets: [],
      ssh: [],
    });
    const withSources = (sources: BuildSources | undefined) =>
      buildInfo('dockerfile.v0', { filename: 'Dockerfile' }, sources);
    const decoded = (r: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, JSON.parse(Buffer.from(v, 'base64').toString())]),
      );
    assert.deepEqual(
      decoded(buildInfoResponse(withSources, { sources: new Map([['', sourcesOf('amd64')]]) })),
      {
        'containerimage.buildinfo': {
          frontend: 'dockerfile.v0',
          attrs: { filename: 'Dockerfile' },
          sources: [
            { type: 'docker-image', ref: 'docker.io/library/busybox:latest', pin: image('amd64').digest },
          ],
        },
      },
    );
    const multi = buildInfoResponse(withSources, {
      refs: new Map([
        ['linux/amd64', { snapshot: undefined }],
        ['linux/arm64', { snapshot: undefined }],
      ]),
      sources: new Map([
        ['linux/amd64', sourcesOf('amd64')],
        ['linux/arm64', sourcesOf('arm64')],
      ]),
    });
    assert.deepEqual(Object.keys(multi), [
      'containerimage.buildinfo/linux/amd64',
      'containerimage.buildinfo/linux/arm64',
    ]);
    assert.equal(
      decoded(multi)['containerimage.buildinfo/linux/arm64'].sources[0].pin,
      image('arm64').digest,
    );
    assert.deepEqual(
      buildInfoResponse(() => undefined, { sources: new Map() }),
      {},
    );
  });
});
