import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { create, fromBinary, toJson } from '@bufbuild/protobuf';
import { DefinitionSchema, OpSchema, type Definition } from '../proto/gen/pb/ops_pb.js';
import { sha256, type Platform } from '../oci/index.js';
import {
  type MarshalOptions,
  type SourceMap,
  type State,
  diff,
  encodeDefinition,
  git,
  http,
  image,
  local,
  marshal,
  merge,
  mkdir,
  mkfile,
  scratch,
  supportedLlbCaps,
} from './index.js';

// The same graphs as the Go program that recorded testdata/golden.json (BuildKit v0.11.6
// client/llb); each builds a State and the marshal options Go's Marshal got.

interface Golden {
  readonly name: string;
  readonly deterministic: boolean;
  readonly digests: readonly string[];
  readonly definition: string;
}

const golden = (
  JSON.parse(readFileSync(new URL('../../llb/testdata/golden.json', import.meta.url), 'utf8')) as {
    graphs: Golden[];
  }
).graphs;

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64' };
const ts = 1700000000123456789n;

const graphs: Record<string, () => [State, MarshalOptions]> = {
  'image-platform': () => [image('busybox', { platform: arm64 }), { platform: amd64 }],
  'image-options': () => [
    image(
      '127.0.0.1:5000/library/busybox:1.36@sha256:8a99c4c1f6bb9d5e8a5c2c4c0c2e6e5e8f3c1a2b3c4d5e6f708192a3b4c5d6e7',
      {
        resolveMode: 'pull',
        layerLimit: 3,
        recordType: 'internal',
        customName: 'pull busybox',
        ignoreCache: true,
      },
    ),
    { platform: amd64 },
  ],
  'local-patterns': () => [
    local('context', {
      sessionId: 'sess1234',
      includePatterns: ['src/**', '*.go'],
      excludePatterns: ['node_modules', '<a&b>', '!keep'],
      followPaths: ['Dockerfile', 'src'],
      sharedKeyHint: 'context',
      differ: 'none',
      differRequired: true,
      customName: 'load context',
    }),
    { platform: amd64 },
  ],
  'local-unique': () => [
    local('dockerfile', { differ: 'metadata' }),
    { platform: amd64, localUniqueId: 'kilnuniqueid' },
  ],
  'git-sources': () => [
    merge([
      git('https://github.com/moby/buildkit.git', 'v0.11.6', {
        keepGitDir: true,
        authTokenSecret: 'MY_TOKEN',
      }),
      git('git@github.com:moby/buildkit.git', 'main', {
        knownSshHosts: 'github.com ssh-ed25519 AAAA\n',
        mountSshSock: 'mysock',
      }),
      git('github.com/moby/buildkit.git', 'master', { subdir: 'docs' }),
    ]),
    { platform: amd64 },
  ],
  'http-source': () => [
    merge([
      http('https://example.com/archive.tar.gz', {
        checksum: 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
        filename: 'a.tgz',
        perm: 0o640,
        uid: 1000,
        gid: 1001,
      }),
      http('http://example.com/plain.txt'),
    ]),
    { platform: amd64 },
  ],
  'exec-mounts': () => {
    const base = image('docker.io/library/alpine:3.18')
      .addEnv('FOO', 'bar')
      .addEnv('PATH', '/custom/bin')
      .dir('/work')
      .dir('sub')
      .user('1000:1000')
      .hostname('builder');
    const tools = image('busybox:latest');
    const ctx = local('context', { sessionId: 's1' });
    const es = base.run({
      args: ['/bin/sh', '-c', 'make all'],
      mounts: [
        { dest: '/tools', source: tools, selector: '/bin', readonly: true },
        { dest: '/src', source: ctx },
        { type: 'cache', dest: '/root/.cache', id: 'gocache', sharing: 'locked' },
        { type: 'cache', dest: '/seeded', id: 'seed', sharing: 'private', source: tools, selector: '/etc' },
        { type: 'tmpfs', dest: '/tmp', size: 64 << 20 },
        { type: 'tmpfs', dest: '/run/t2' },
        {
          type: 'secret',
          dest: '/run/secrets/npmrc',
          id: 'npm',
          uid: 1000,
          gid: 1000,
          mode: 0o440,
          optional: true,
        },
        { type: 'secret', dest: '/run/secrets/plain' },
        { type: 'ssh' },
        { type: 'ssh', id: 'other', dest: '/run/ssh.sock', uid: 1, gid: 2, mode: 0o644, optional: true },
      ],
      network: 'none',
      security: 'insecure',
      extraHosts: [
        { host: 'registry.local', ip: '10.0.0.5' },
        { host: 'v6.local', ip: 'fd00:0:0::1' },
      ],
      ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
      cgroupParent: 'kiln.slice',
      proxyEnv: { httpProxy: 'http://proxy:3128', noProxy: 'localhost' },
      ignoreCache: true,
      customName: '[build] make all',
      progressGroup: { id: 'pg1', name: 'group one', weak: true },
      description: { 'com.docker.dockerfile.v1.command': 'RUN make all', '9': 'nine', '10': 'ten' },
    });
    return [es.root(), { platform: amd64 }];
  },
  'exec-outputs': () => {
    const base = image('busybox');
    const es = base.run({
      args: ['sh', '-c', 'echo hi > /out/x'],
      readonlyRootfs: true,
      mounts: [
        { dest: '/out', source: scratch() },
        { dest: '/b', source: scratch() },
        { dest: '/nooutput', source: base, noOutput: true },
      ],
      secretEnv: [
        { name: 'TOKEN', id: 'tok' },
        { name: 'OPT', id: 'opt', optional: true },
      ],
      network: 'host',
      platform: arm64,
    });
    const second = base.run({
      args: ['cat', '/in/x'],
      mounts: [
        { dest: '/in', source: es.getMount('/out'), readonly: true },
        { dest: '/b', source: es.getMount('/b') },
      ],
    });
    return [second.root(), { platform: amd64, caps: supportedLlbCaps }];
  },
  'exec-default-path': () => [
    image('busybox')
      .run({ args: ['ls'], mounts: [{ type: 'ssh', dest: '/ssh' }] })
      .root(),
    { platform: amd64, caps: [...supportedLlbCaps].filter((c) => c !== 'exec.meta.setsdefaultpath') },
  ],
  'file-chain': () => {
    const src = image('busybox').dir('/srcdir');
    const other = scratch().dir('/ced');
    const prepared = mkdir('./made', 0o755).mkfile('./made/f', 0o600, 'hello');
    const action = mkdir('/a/b', 0o4755, { makeParents: true, owner: 'app:staff', createdTime: ts })
      .mkfile('rel.txt', 0o644, 'data\n', { owner: { user: 1000, group: 1000 }, createdTime: ts })
      .mkfile('/empty', 0o600, new Uint8Array(), { owner: 'root' })
      .rm('/a/*', { allowNotFound: true, allowWildcard: true })
      .copy(src, 'bin/../bin/', '/dest/', {
        mode: 0o755,
        followSymlinks: true,
        copyDirContentsOnly: true,
        includePatterns: ['*.sh'],
        excludePatterns: ['*.md'],
        attemptUnpack: true,
        createDestPath: true,
        allowWildcard: true,
        allowEmptyWildcard: true,
        owner: { user: 'app', group: 5 },
        createdTime: ts,
      })
      .copy(prepared.withState(other), 'made', '/from-action/.')
      .copy(src, '/x', 'y/');
    return [image('alpine').dir('/work').file(action, { customName: 'file ops' }), { platform: amd64 }];
  },
  'file-scratch': () => [
    scratch()
      .file(mkfile('/hello', 0o644, 'hi'))
      .file(mkdir('/d', 0o755).mkdir('/d/e', 0o700)),
    { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  ],
  'merge-diff': () => {
    const a = image('busybox');
    const b = a.file(mkdir('/b', 0o755));
    const c = a.file(mkdir('/c', 0o755));
    const m = merge([a, b, scratch(), c, b], { customName: 'merge abc' });
    const d = diff(a, m, { exportCache: true });
    const d2 = diff(scratch(), c);
    const d3 = diff(b, scratch(), { exportCache: false });
    return [merge([d, d2, d3]), { platform: amd64 }];
  },
  constraints: () => {
    const sm: SourceMap = { filename: 'Dockerfile', data: 'FROM busybox\nRUN true\n' };
    const img = image('busybox', {
      sourceLocations: [{ sourceMap: sm, ranges: [{ start: { line: 1 }, end: { line: 1, character: 12 } }] }],
    });
    const st = img
      .run({
        args: ['true'],
        workerConstraints: ['node.labels.x==y'],
        exportCache: true,
        sourceLocations: [{ sourceMap: sm, ranges: [{ start: { line: 2 }, end: { line: 2 } }] }],
      })
      .root();
    return [
      st,
      { platform: { os: 'linux', architecture: 'aarch64' }, workerConstraints: ['kiln.role=builder'] },
    ];
  },
  'reset-dup': () => {
    const a = image('busybox').addEnv('A', '1').dir('/a');
    const b = image('busybox')
      .reset(a)
      .run({ args: ['env'] })
      .root();
    const c = image('docker.io/library/busybox:latest')
      .run({ args: ['env'], customName: 'second' })
      .root();
    return [merge([b, c]), { platform: amd64 }];
  },
  'image-config': () => {
    const st = image('busybox').withImageConfig({
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
      config: { Env: ['PATH=/bin', 'A=b=c', 'NOVALUE'], WorkingDir: '/app' },
    });
    const run = st
      .dir('rel')
      .run({ args: ['env'], env: { B: '1' } })
      .root();
    return [
      merge([
        run,
        image('alpine', { resolveMode: 'local' }),
        git('ssh://git@example.com/org/repo.git', '', {
          authHeaderSecret: 'HDR',
          knownSshHosts: 'example.com ssh-rsa AAAA',
        }),
        git('http://example.com/repo.git', 'abc123', { authTokenSecret: '' }),
      ]),
      { platform: amd64 },
    ];
  },
};

function opsByDigest(def: Definition): Map<string, unknown> {
  return new Map(def.def.map((b) => [sha256(b), toJson(OpSchema, fromBinary(OpSchema, b))]));
}

describe('golden definitions recorded from BuildKit v0.11.6 client/llb', () => {
  it('covers every recorded graph', () => {
    assert.deepEqual(Object.keys(graphs).sort(), golden.map((g) => g.name).sort());
  });

  for (const g of golden) {
    it(`${g.name}: op digests and definition bytes equal Go's`, () => {
      const build = graphs[g.name];
      assert.ok(build, `no TypeScript graph for ${g.name}`);
      const [state, options] = build();
      const ours = marshal(state, options);
      const goBytes = Buffer.from(g.definition, 'base64');
      const goDef = fromBinary(DefinitionSchema, goBytes);
      const ourDigests = ours.def.map((b) => sha256(b));
      if (
        new Set(ourDigests).size !== new Set(g.digests).size ||
        ourDigests.some((d) => !g.digests.includes(d))
      ) {
        // Show the ops that differ, decoded, before failing on the digests.
        const want = opsByDigest(goDef);
        const got = opsByDigest(ours);
        const missing = [...want].filter(([d]) => !got.has(d)).map(([, op]) => op);
        const extra = [...got].filter(([d]) => !want.has(d)).map(([, op]) => op);
        assert.deepEqual(extra, missing);
      }
      assert.deepEqual([...ourDigests].sort(), [...g.digests].sort());
      if (g.deterministic) {
        assert.deepEqual(ourDigests, g.digests, 'definition order');
        assert.ok(Buffer.from(encodeDefinition(ours)).equals(goBytes), 'definition bytes');
      } else {
        // Go walks exec and file op inputs in map order; compare everything else byte for byte.
        const byDigest = new Map(goDef.def.map((b) => [sha256(b), b]));
        const reordered = create(DefinitionSchema, {
          ...goDef,
          def: ourDigests.map((d) => byDigest.get(d)!),
        });
        assert.ok(Buffer.from(encodeDefinition(ours)).equals(Buffer.from(encodeDefinition(reordered))));
      }
      assert.ok(Buffer.from(encodeDefinition(goDef)).equals(goBytes), 'Go bytes re-encode to themselves');
    });
  }
});
