import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePlatform, sha256, type Descriptor, type ImageIndex, type Platform } from '../oci/index.js';
import { availablePlatforms, selectManifest } from './index.js';

function entry(name: string, platform?: Platform): Descriptor {
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(name),
    size: 1,
    ...(platform ? { platform } : {}),
  };
}

const index: ImageIndex = {
  schemaVersion: 2,
  manifests: [
    entry('amd64', { os: 'linux', architecture: 'amd64' }),
    entry('amd64v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }),
    entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry('armv6', { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry('armv7', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry('attestation', { os: 'unknown', architecture: 'unknown' }),
    entry('no-platform'),
  ],
};

const pick = (spec: string): Descriptor | undefined => selectManifest(index, parsePlatform(spec));

describe('selectManifest', () => {
  it('takes the exact platform, normalising arm64/v8 and aarch64', () => {
    assert.equal(pick('linux/amd64')?.digest, sha256('amd64'));
    assert.equal(pick('linux/arm64')?.digest, sha256('arm64'));
    assert.equal(pick('linux/aarch64')?.digest, sha256('arm64'));
    assert.equal(pick('linux/amd64/v3')?.digest, sha256('amd64v3'));
  });

  it('falls back to older micro-architecture levels and arm variants', () => {
    assert.equal(pick('linux/amd64/v4')?.digest, sha256('amd64v3'));
    assert.equal(pick('linux/amd64/v2')?.digest, sha256('amd64'));
    assert.equal(pick('linux/arm/v8')?.digest, sha256('armv7'));
    assert.equal(pick('linux/arm/v7')?.digest, sha256('armv7'));
    assert.equal(pick('linux/arm/v6')?.digest, sha256('armv6'));
  });

  it('never picks attestations or entries without a platform, and says when nothing fits', () => {
    assert.equal(pick('linux/s390x'), undefined);
    assert.equal(pick('linux/arm/v5'), undefined);
    assert.deepEqual(availablePlatforms(index), [
      'linux/amd64',
      'linux/amd64/v3',
      'linux/arm64',
      'linux/arm/v6',
      'linux/arm/v7',
      'unknown/unknown',
    ]);
  });
});
