import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    assert.deepEqual(buildInfoResponse(info, undefined), { 'containerimage.buildinfo': info });
    assert.deepEqual(buildInfoResponse(info, ['linux/amd64', 'linux/arm64']), {
      'containerimage.buildinfo/linux/amd64': info,
      'containerimage.buildinfo/linux/arm64': info,
    });
    assert.deepEqual(buildInfoResponse(undefined, undefined), {});
  });
});
