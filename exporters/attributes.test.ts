import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imagePurl, parseImageOptions, provenanceRequest } from './index.js';

const parse = (
  attrs: Record<string, string>,
  defaultOci = false,
  frontendAttrs: Record<string, string> = {},
) => parseImageOptions(attrs, { defaultOci, frontendAttrs, metadata: new Map() });

describe('parseImageOptions', () => {
  it('reads names, booleans the way Go does, and BuildKit defaults', () => {
    const o = parse({ name: 'a/b:1,c', push: '', 'registry.insecure': 'T', 'oci-mediatypes': 'False' });
    assert.deepEqual(o.names, ['a/b:1', 'c']);
    assert.equal(o.push, true);
    assert.equal(o.insecure, true);
    assert.equal(o.oci, false);
    assert.equal(o.compression, 'gzip');
    assert.equal(o.force, false);
    assert.equal(o.tar, true);
    assert.equal(parse({}, true).oci, true);
    assert.throws(() => parse({ push: 'yes' }), { code: 'KILN_EXPORTERS_BAD_REQUEST', attribute: 'push' });
  });

  it('forces OCI media types for zstd and for index or descriptor annotations', () => {
    assert.equal(parse({ compression: 'zstd' }).oci, true);
    assert.equal(parse({ 'annotation.a': '1' }).oci, false);
    assert.equal(parse({ 'annotation-manifest-descriptor.a': '1' }).oci, true);
    assert.equal(parse({ 'annotation-index.a': '1' }).oci, true);
  });

  it('checks compression and its level', () => {
    assert.equal(parse({ compression: 'zstd', 'compression-level': '19' }).level, 19);
    assert.throws(() => parse({ compression: 'gzip', 'compression-level': '12' }), /out of range/);
    assert.throws(() => parse({ compression: 'estargz' }), /not supported/);
    assert.throws(() => parse({ compression: 'lz4' }), /gzip, zstd or uncompressed/);
  });

  it('takes SOURCE_DATE_EPOCH from the attribute, else from the build argument', () => {
    assert.equal(
      parse({ 'source-date-epoch': '10' }, false, { 'build-arg:SOURCE_DATE_EPOCH': '20' }).epoch,
      10,
    );
    assert.equal(parse({}, false, { 'build-arg:SOURCE_DATE_EPOCH': '20' }).epoch, 20);
    assert.equal(parse({}).epoch, undefined);
    assert.throws(() => parse({ 'source-date-epoch': 'noon' }), /integer/);
  });

  it('groups annotations by kind and platform', () => {
    const o = parse({
      'annotation.org.a': 'all',
      'annotation-manifest[linux/arm64].org.b': 'arm',
      'annotation-index.org.c': 'idx',
      'annotation-manifest-descriptor[linux/amd64].org.d': 'desc',
    });
    assert.deepEqual(o.annotations.platforms().sort(), ['linux/amd64', 'linux/arm64']);
    const arm = o.annotations.forPlatform({ os: 'linux', architecture: 'arm64' });
    assert.deepEqual(arm.manifest, { 'org.a': 'all', 'org.b': 'arm' });
    assert.deepEqual(arm.index, { 'org.c': 'idx' });
    assert.deepEqual(arm.manifestDescriptor, {});
    const amd = o.annotations.forPlatform({ os: 'linux', architecture: 'amd64' });
    assert.deepEqual(amd.manifestDescriptor, { 'org.d': 'desc' });
    assert.throws(() => parse({ 'annotation-bogus.x': '1' }), /unrecognized annotation type/);
  });
});

describe('provenance', () => {
  it('parses attest:provenance', () => {
    assert.deepEqual(provenanceRequest({ 'attest:provenance': 'mode=min' }), {
      mode: 'min',
      builderId: '',
      reproducible: false,
      inlineOnly: false,
    });
    // docker buildx's default request.
    assert.equal(provenanceRequest({ 'attest:provenance': 'mode=min,inline-only=true' })?.inlineOnly, true);
    assert.equal(provenanceRequest({ 'attest:provenance': 'mode=max,disabled=true' }), undefined);
    assert.equal(provenanceRequest({}), undefined);
    assert.throws(() => provenanceRequest({ 'attest:provenance': 'mode=all' }), /invalid provenance mode/);
  });

  it('names subjects with package URLs as BuildKit does', () => {
    assert.equal(
      imagePurl('127.0.0.1:5000/test/app', { os: 'linux', architecture: 'amd64' }),
      'pkg:docker/127.0.0.1%3A5000/test/app@latest?platform=linux%2Famd64',
    );
    assert.equal(
      imagePurl('alpine:3.17', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      'pkg:docker/alpine@3.17?platform=linux%2Farm%2Fv7',
    );
    assert.equal(
      imagePurl(`docker.io/org/app@sha256:${'a'.repeat(64)}`),
      `pkg:docker/org/app?digest=sha256:${'a'.repeat(64)}`,
    );
  });
});
