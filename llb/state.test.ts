import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromBinary } from '@bufbuild/protobuf';
import { OpSchema, type Definition, type Op } from '../proto/gen/pb/ops_pb.js';
import { sha256, type Platform } from '../oci/index.js';
import type { State } from './index.js';
import {
  LlbBuildError,
  copy,
  decodeDefinition,
  diff,
  dir,
  encodeDefinition,
  image,
  llbApiCaps,
  llbCaps,
  local,
  marshal,
  merge,
  metaKeys,
  mkdir,
  mkfile,
  scratch,
  supportedLlbCaps,
  symlink,
  type MetaKey,
} from './index.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };

function ops(def: Definition): { op: Op; caps: string[] }[] {
  return def.def.slice(0, -1).map((b) => ({
    op: fromBinary(OpSchema, b),
    caps: Object.keys(def.metadata[sha256(b)]?.caps ?? {}).sort(),
  }));
}

function last(def: Definition): { op: Op; caps: string[] } {
  return ops(def).at(-1)!;
}

function execOf(def: Definition) {
  const op = ops(def).find((o) => o.op.op.case === 'exec');
  assert.ok(op && op.op.op.case === 'exec');
  return { exec: op.op.op.value, caps: op.caps, op: op.op };
}

describe('State', () => {
  it('is immutable: modifiers return new states and branches do not see each other', () => {
    const base = image('busybox');
    const a = base.dir('/a').addEnv('X', '1');
    const b = base.with(dir('/b'), dir('sub'));
    assert.equal(base.getDir(), '/');
    assert.equal(a.getDir(), '/a');
    assert.equal(b.getDir(), '/b/sub');
    assert.equal(a.getEnv('X'), '1');
    assert.equal(base.getEnv('X'), undefined);
    assert.deepEqual(a.addEnv('Y', '2').addEnv('X', '3').getEnvList(), [
      ['Y', '2'],
      ['X', '3'],
    ]);
    assert.equal(a.output, base.output);
    assert.ok(scratch().isScratch());
  });

  it('computes metadata lazily, once, when read', () => {
    const key: MetaKey<number> = { name: 'test.counter', fallback: 0 };
    let calls = 0;
    const s = scratch().withMeta(key, () => {
      calls++;
      return 42;
    });
    const t = s.dir('/x');
    assert.equal(calls, 0);
    assert.equal(t.value(key), 42);
    assert.equal(s.value(key), 42);
    assert.equal(calls, 1);
    assert.equal(scratch().value(key), 0);
  });

  it('takes env, working dir and platform from an image config', () => {
    const s = image('busybox', {
      imageConfig: {
        os: 'linux',
        architecture: 'aarch64',
        config: { Env: ['PATH=/usr/bin', 'EMPTY', '=ignored'], WorkingDir: '/app' },
      },
    });
    assert.deepEqual(s.getEnvList(), [
      ['PATH', '/usr/bin'],
      ['EMPTY', ''],
    ]);
    assert.equal(s.getDir(), '/app');
    assert.deepEqual(s.getPlatform(), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(s.platform({ os: 'linux', architecture: 'arm' }).getPlatform(), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
  });
});

describe('run', () => {
  it('applies per-run settings to the process only and adds SSH_AUTH_SOCK', () => {
    const base = image('busybox').dir('/w');
    const es = base.run({
      shell: 'echo $X',
      env: { X: '1' },
      cwd: 'sub',
      user: 'nobody',
      extraHosts: [{ host: 'h', ip: '::ffff:1.2.3.4' }],
      mounts: [{ type: 'ssh' }],
    });
    assert.equal(es.root().getDir(), '/w');
    assert.equal(es.root().getEnv('X'), undefined);
    const { exec } = execOf(marshal(es.root(), { platform: amd64 }));
    assert.deepEqual(exec.meta?.args, ['/bin/sh', '-c', 'echo $X']);
    assert.deepEqual(exec.meta?.env, ['X=1', 'SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0']);
    assert.equal(exec.meta?.cwd, '/w/sub');
    assert.equal(exec.meta?.user, 'nobody');
    assert.deepEqual(
      exec.meta?.extraHosts.map((h) => [h.Host, h.IP]),
      [['h', '1.2.3.4']],
    );
  });

  it('reports missing arguments and unreadable mounts at marshal, not when building', () => {
    const es = image('busybox').run({
      mounts: [
        { type: 'tmpfs', dest: '/t' },
        { type: 'cache', dest: '/c', id: 'c' },
      ],
    });
    assert.throws(() => marshal(es.root()), LlbBuildError);
    assert.throws(() => marshal(es.root()), /arguments are required/);
    const ok = image('busybox').run({ args: ['true'], mounts: [{ type: 'tmpfs', dest: '/t' }] });
    assert.throws(() => marshal(ok.getMount('/t')), /tmpfs mount for \/t can't be used as a parent/);
    assert.throws(() => ok.getMount('/nowhere'), /no filesystem mount at "\/nowhere"/);
  });

  it('numbers writable mounts in sorted order and passes read-only mounts through', () => {
    const ctx = local('ctx', { sessionId: 's' });
    const es = image('busybox').run({
      args: ['true'],
      mounts: [
        { dest: '/z', source: scratch() },
        { dest: '/a', source: scratch() },
        { dest: '/ro', source: ctx, readonly: true },
      ],
    });
    assert.deepEqual(
      [es.root(), es.getMount('/a'), es.getMount('/z')].map((s) => s.output?.index),
      [0, 1, 2],
    );
    assert.equal(es.getMount('/ro').output, ctx.output);
    const def = marshal(merge([es.getMount('/z'), es.getMount('/ro')]), { platform: amd64 });
    const { exec } = execOf(def);
    assert.deepEqual(
      exec.mounts.map((m) => [m.dest, Number(m.input), Number(m.output)]),
      [
        ['/', 0, 0],
        ['/a', -1, 1],
        ['/ro', 1, -1],
        ['/z', -1, 2],
      ],
    );
    assert.equal(decodeDefinition(def).vertices.size, def.def.length - 1);
  });

  it('records valid exit codes with their cap, and a default PATH for daemons without setsdefaultpath', () => {
    const st = image('busybox')
      .run({ args: ['false'], validExitCodes: [0, 1] })
      .root();
    const { exec, caps } = execOf(marshal(st, { platform: amd64, caps: ['exec.meta.base'] }));
    assert.deepEqual(exec.meta?.validExitCodes, [0, 1]);
    assert.ok(caps.includes('exec.validexitcode'));
    assert.deepEqual(exec.meta?.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });
});

describe('file, merge, diff and sources', () => {
  it('writes HEAD-only file features with the caps they need', () => {
    const st = image('busybox').file(
      symlink('/bin/busybox', '/bin/sh2', { owner: '1000:staff' }).copy(image('alpine'), '/etc/*', '/etc2/', {
        mode: 'u+x',
        alwaysReplaceExistingDestPaths: true,
      }),
    );
    const def = marshal(st, { platform: amd64 });
    const file = last(def);
    assert.deepEqual(file.caps, [
      'file.base',
      'file.copy.alwaysreplaceexistingdestpaths',
      'file.copy.modestring',
      'file.symlink.create',
    ]);
    assert.ok(file.op.op.case === 'file');
    const [link, cp] = file.op.op.value.actions;
    assert.ok(link?.action.case === 'symlink' && cp?.action.case === 'copy');
    assert.equal(link.action.value.newpath, '/bin/sh2');
    assert.equal(link.action.value.owner?.user?.user.case, 'byID');
    assert.equal(link.action.value.owner?.group?.user.case, 'byName');
    assert.equal(cp.action.value.modeStr, 'u+x');
    assert.equal(cp.action.value.mode, 0);
    assert.ok(decodeDefinition(def));
    const v0116 = llbCaps.filter((c) => c.origin === 'v0.11.6').map((c) => c.id);
    assert.throws(
      () => decodeDefinition(def, { supportedCaps: v0116 }),
      /requires LLB cap "file\.(symlink|copy)\./,
    );
  });

  it('pins images by checksum with source.image.checksum', () => {
    const def = marshal(image('alpine:3.18', { checksum: `sha256:${'a'.repeat(64)}` }), { platform: amd64 });
    const src = last(def);
    assert.ok(src.op.op.case === 'source');
    assert.equal(src.op.op.value.identifier, 'docker-image://docker.io/library/alpine:3.18');
    assert.equal(src.op.op.value.attrs['image.checksum'], `sha256:${'a'.repeat(64)}`);
    assert.deepEqual(src.caps, ['source.image', 'source.image.checksum']);
  });

  it('writes platform only on image, exec and file ops, and always an (empty) constraints message', () => {
    const ctx = local('ctx', { sessionId: 's' });
    const st = merge([image('busybox').file(copy(ctx, '/', '/src')), ctx]);
    const def = marshal(st, { platform: amd64 });
    const seen = ops(def).map(({ op }) => [
      op.op.case,
      op.platform?.Architecture,
      op.constraints !== undefined,
    ]);
    assert.deepEqual(seen, [
      ['source', 'amd64', true],
      ['source', undefined, true],
      ['file', 'amd64', true],
      ['merge', undefined, true],
    ]);
    // Go writes the empty constraints message as the two bytes 5a 00 at the end of every op.
    for (const b of def.def.slice(0, -1)) assert.deepEqual([...b.subarray(-2)], [0x5a, 0x00]);
    assert.equal(fromBinary(OpSchema, def.def.at(-1)!).constraints, undefined);
  });

  it('keeps degenerate merges and diffs out of the graph', () => {
    const a = image('busybox');
    assert.equal(merge([scratch(), a, scratch()]), a);
    assert.ok(merge([scratch()]).isScratch());
    assert.equal(diff(scratch(), a), a);
    assert.ok(diff(scratch(), scratch()).isScratch());
    assert.equal(marshal(scratch()).def.length, 0);
  });

  it('gives local sources a unique id only without a session', () => {
    const attrs = (def: Definition) => {
      const op = last(def).op.op;
      assert.ok(op.case === 'source');
      return op.value.attrs;
    };
    const one = marshal(local('ctx'));
    const two = marshal(local('ctx'));
    assert.match(attrs(one)['local.unique'] ?? '', /^[0-9a-z]{25}$/);
    assert.notEqual(attrs(one)['local.unique'], attrs(two)['local.unique']);
    assert.equal(attrs(marshal(local('ctx', { sessionId: 's' })))['local.unique'], undefined);
  });

  it('marshals deterministically', () => {
    const build = () =>
      image('busybox')
        .file(mkfile('/a', 0o644, 'a', { createdTime: new Date(0) }))
        .file(copy(local('ctx', { sessionId: 's' }), '.', '/src'));
    const a = encodeDefinition(marshal(build(), { platform: amd64 }));
    const b = encodeDefinition(marshal(build(), { platform: amd64 }));
    assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  });

  it('marshals a 20,000-op chain without recursion', () => {
    let s: State = image('busybox');
    for (let i = 0; i < 20_000; i++) s = s.file(mkdir(`/d${i}`, 0o755));
    const def = marshal(s, { platform: amd64 });
    assert.equal(def.def.length, 20_002);
    assert.equal(decodeDefinition(def).vertices.size, 20_001);
  });
});

describe('caps', () => {
  it('lists every v0.11.6 cap enabled, with upstream spelling, and unsupported HEAD caps disabled', () => {
    assert.ok(supportedLlbCaps.has('soruce.http.uidgid'));
    assert.ok(supportedLlbCaps.has('file.symlink.create'));
    assert.ok(!supportedLlbCaps.has('passthroughop'));
    assert.equal(llbCaps.filter((c) => c.origin === 'v0.11.6').length, 62);
    const api = llbApiCaps();
    assert.equal(api.length, llbCaps.length);
    const off = api.find((c) => c.ID === 'source.git.checksum');
    assert.equal(off?.Enabled, false);
    assert.equal(off?.DisabledReason, 'unsupported');
    assert.equal(api.find((c) => c.ID === 'mergeop')?.Enabled, true);
    assert.equal(metaKeys.dir.name, 'llb.exec.dir');
  });
});
