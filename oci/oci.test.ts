import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  familiarName,
  formatPlatform,
  formatReference,
  parseDigest,
  parsePlatform,
  parseReference,
  platformRank,
  sha256,
} from './index.js';

describe('parseReference', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['myorg/app:1.2', 'docker.io/myorg/app:1.2'],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest'],
    ['127.0.0.1:5000/library/busybox:latest', '127.0.0.1:5000/library/busybox:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['ghcr.io/a/b/c:v1', 'ghcr.io/a/b/c:v1'],
    [`busybox@sha256:${'a'.repeat(64)}`, `docker.io/library/busybox@sha256:${'a'.repeat(64)}`],
    [`localhost:5000/x:t@sha256:${'b'.repeat(64)}`, `localhost:5000/x:t@sha256:${'b'.repeat(64)}`],
  ];
  for (const [input, want] of cases) {
    it(`normalises ${input}`, () => assert.equal(formatReference(parseReference(input)), want));
  }
  for (const bad of ['', 'Busybox', 'a@sha256:123', 'x:', 'a//b', 'host:5000/']) {
    it(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseReference(bad), /invalid image reference/));
  }
  it('gives familiar names', () => {
    assert.equal(familiarName(parseReference('busybox')), 'busybox:latest');
    assert.equal(familiarName(parseReference('docker.io/org/x:1')), 'org/x:1');
  });
});

describe('platforms', () => {
  it('parses and normalises', () => {
    assert.equal(formatPlatform(parsePlatform('linux/aarch64')), 'linux/arm64');
    assert.equal(formatPlatform(parsePlatform('linux/arm')), 'linux/arm/v7');
    assert.equal(formatPlatform(parsePlatform('linux/amd64/v1')), 'linux/amd64');
    assert.equal(formatPlatform(parsePlatform('arm64')), 'linux/arm64');
    assert.throws(() => parsePlatform('linux/amd64/v2/x'), /invalid platform/);
  });
  it('ranks compatible variants', () => {
    const v3 = parsePlatform('linux/amd64/v3');
    assert.equal(platformRank(v3, parsePlatform('linux/amd64/v3')), 0);
    assert.equal(platformRank(v3, parsePlatform('linux/amd64')), 2);
    assert.equal(platformRank(parsePlatform('linux/amd64'), parsePlatform('linux/amd64/v2')), undefined);
    assert.equal(platformRank(parsePlatform('linux/arm/v7'), parsePlatform('linux/arm/v6')), 1);
    assert.equal(platformRank(parsePlatform('linux/amd64'), parsePlatform('linux/arm64')), undefined);
  });
});

describe('digests', () => {
  it('hashes and validates', () => {
    assert.equal(sha256(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.throws(() => parseDigest('sha256:ABC'), /invalid digest/);
  });
});
