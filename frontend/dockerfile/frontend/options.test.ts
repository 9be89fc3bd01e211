import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BuildOptionError,
  DockerfileError,
  DockerfileSourceError,
  FrontendUnsupportedError,
  checkFrontendCaps,
  parseFrontendOptions,
  parseGitRef,
  pinnedReference,
} from '../index.js';

const amd64 = { os: 'linux', architecture: 'amd64' };
const digest = `sha256:${'a'.repeat(64)}`;

describe('parseFrontendOptions', () => {
  it('reads the options buildctl sends, with BuildKit defaults', () => {
    const o = parseFrontendOptions(
      {
        'build-arg:A': '1',
        'build-arg:BUILDKIT_CACHE_MOUNT_NS': 'ns',
        'label:x': 'y',
        'context:base': 'docker-image://busybox',
        'no-cache': '',
        'add-hosts': 'MyHost=10.0.0.1,v6=::1',
        ulimit: 'nofile=1024:2048,nproc=10',
        'shm-size': '1024',
        filename: 'build/Dockerfile',
        target: 'dev',
      },
      amd64,
    );
    assert.deepEqual(Object.fromEntries(o.buildArgs), { A: '1', BUILDKIT_CACHE_MOUNT_NS: 'ns' });
    assert.deepEqual(Object.fromEntries(o.labels), { x: 'y' });
    assert.deepEqual(Object.fromEntries(o.namedContexts), { base: 'docker-image://busybox' });
    assert.deepEqual(o.ignoreCache, []);
    assert.equal(o.cacheNamespace, 'ns');
    assert.deepEqual(o.extraHosts, [
      { host: 'myhost', ip: '10.0.0.1' },
      { host: 'v6', ip: '::1' },
    ]);
    assert.deepEqual(o.ulimits, [
      { name: 'nofile', soft: 1024, hard: 2048 },
      { name: 'nproc', soft: 10, hard: 10 },
    ]);
    assert.equal(o.shmSize, 1024);
    assert.equal(o.filename, 'build/Dockerfile');
    assert.equal(o.target, 'dev');
    assert.equal(o.contextLocal, 'context');
    assert.equal(o.dockerfileLocal, 'dockerfile');
    assert.equal(o.forceLocalDockerfile, false);
    assert.equal(o.resolveMode, 'default');
    assert.equal(o.forceNetwork, 'sandbox');
    assert.equal(o.multiPlatform, false);
    assert.equal(o.platforms, undefined);
  });

  it('parses platforms, completing a lone architecture, and turns several into a multi-platform build', () => {
    const o = parseFrontendOptions({ platform: 'linux/arm64,linux/arm/v7,amd64' }, amd64);
    assert.deepEqual(o.platforms, [
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'amd64' },
    ]);
    assert.equal(o.multiPlatform, true);
    assert.equal(
      parseFrontendOptions({ platform: 'linux/arm64', 'multi-platform': 'true' }, amd64).multiPlatform,
      true,
    );
    assert.equal(
      parseFrontendOptions({ 'build-arg:BUILDKIT_MULTI_PLATFORM': '1' }, amd64).multiPlatform,
      true,
    );
  });

  it('names stage lists for no-cache, the hostname alias and the local-name options', () => {
    const o = parseFrontendOptions(
      {
        'no-cache': 'a,B',
        hostname: 'h',
        'build-arg:BUILDKIT_SANDBOX_HOSTNAME': 'alias',
        contextkey: 'src',
        dockerfilekey: 'defs',
      },
      amd64,
    );
    assert.deepEqual(o.ignoreCache, ['a', 'B']);
    assert.equal(o.hostname, 'alias');
    assert.equal(o.contextLocal, 'src');
    assert.equal(o.dockerfileLocal, 'defs');
    assert.equal(o.forceLocalDockerfile, true);
  });

  it('refuses values BuildKit refuses, with its messages', () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'image-resolve-mode': 'never' }, 'invalid image-resolve-mode: never'],
      [{ 'force-network-mode': 'bridge' }, 'invalid netmode bridge'],
      [{ 'add-hosts': 'nohost' }, 'failed to parse additional hosts: invalid key-value pair nohost'],
      [{ 'add-hosts': 'h=300.1.1.1' }, 'failed to parse additional hosts: failed to parse IP 300.1.1.1'],
      [{ ulimit: 'bogus=1' }, 'failed to parse ulimit: invalid ulimit type: bogus'],
      [
        { ulimit: 'nofile=10:5' },
        'failed to parse ulimit: ulimit soft limit must be less than or equal to hard limit: 10 > 5',
      ],
      [{ 'shm-size': '1g' }, 'failed to parse shm size: strconv.ParseInt: parsing "1g": invalid syntax'],
      [{ 'multi-platform': 'maybe' }, 'invalid boolean value maybe'],
      [
        { platform: 'linux/amd64,linux/arm64', 'multi-platform': 'false' },
        'returning multiple target platforms is not allowed',
      ],
    ];
    for (const [opts, message] of cases) {
      assert.throws(
        () => parseFrontendOptions(opts, amd64),
        (err: unknown) => {
          assert.ok(err instanceof BuildOptionError);
          assert.equal(err.kind, 'invalid-argument');
          assert.equal(err.message, message);
          return true;
        },
      );
    }
  });
});

describe('checkFrontendCaps', () => {
  it('accepts the caps of BuildKit v0.11.6 and refuses others, deferring +forward ones', () => {
    assert.equal(
      checkFrontendCaps('moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts+forward'),
      undefined,
    );
    assert.throws(
      () => checkFrontendCaps('moby.buildkit.frontend.nope'),
      (err: unknown) =>
        err instanceof FrontendUnsupportedError &&
        err.message === 'unsupported frontend capability moby.buildkit.frontend.nope',
    );
    const deferred = checkFrontendCaps('moby.buildkit.frontend.nope+forward');
    assert.ok(deferred instanceof FrontendUnsupportedError);
    assert.equal(deferred.kind, 'unimplemented');
  });
});

describe('parseGitRef', () => {
  it('tells git references from paths and URLs as BuildKit does', () => {
    assert.deepEqual(parseGitRef('https://github.com/moby/buildkit.git#v0.11.6:frontend'), {
      remote: 'https://github.com/moby/buildkit.git',
      commit: 'v0.11.6',
      subDir: 'frontend',
      indistinguishableFromLocal: false,
    });
    assert.equal(parseGitRef('git@github.com:moby/buildkit.git')?.remote, 'git@github.com:moby/buildkit.git');
    assert.equal(parseGitRef('git://host/repo')?.commit, '');
    assert.equal(parseGitRef('github.com/moby/buildkit')?.indistinguishableFromLocal, true);
    assert.equal(parseGitRef('https://example.com/file.txt'), undefined);
    assert.equal(parseGitRef('./relative/path'), undefined);
    assert.equal(parseGitRef('archive.tar.gz'), undefined);
  });
});

describe('pinnedReference', () => {
  it('keeps the tag only when one was written, as reference.WithDigest prints', () => {
    assert.equal(pinnedReference('busybox', digest), `docker.io/library/busybox@${digest}`);
    assert.equal(pinnedReference('busybox:1.36', digest), `docker.io/library/busybox:1.36@${digest}`);
    assert.equal(pinnedReference('127.0.0.1:5000/x', digest), `127.0.0.1:5000/x@${digest}`);
    assert.equal(pinnedReference('127.0.0.1:5000/x', ''), '127.0.0.1:5000/x:latest');
  });
});

describe('DockerfileSourceError', () => {
  it('carries the Dockerfile and the lines, and the class of what it wraps', () => {
    const inner = Object.assign(new Error('not found'), { kind: 'not-found' as const });
    const lines = new DockerfileError({
      reason: 'busybox: not found',
      startLine: 2,
      endLine: 3,
      cause: inner,
    });
    const data = new TextEncoder().encode('FROM x\nFROM busybox\\\n AS b\n');
    const err = new DockerfileSourceError({
      source: {
        filename: 'Dockerfile',
        data,
        ranges: [
          { start: { line: 2 }, end: { line: 2 } },
          { start: { line: 3 }, end: { line: 3 } },
        ],
      },
      cause: lines,
    });
    assert.equal(err.message, 'busybox: not found');
    assert.equal(err.kind, 'not-found');
    assert.equal(err.code, 'KILN_DOCKERFILE_SOURCE');
    assert.equal(err.source.data, data);
    assert.equal(err.cause, lines);
  });
});
