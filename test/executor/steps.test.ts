import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { image, copy, marshal, scratch, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

const sh = promisify(execFile);
const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

describe('running steps through kilnd', { skip }, () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let work: string;
  let ref: string;
  const def = (state: State) => toBinary(DefinitionSchema, marshal(state));
  const build = (state: State, args: string[] = []) =>
    buildctl(daemon.address, ['build', ...args], def(state));
  const busybox = (platform?: { os: string; architecture: string }) =>
    image(ref, platform ? { platform } : {});

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    ref = `${registry.host}/library/busybox:latest`;
    daemon = await startKilnd({ args: ['--allow-insecure-entitlement', 'security.insecure'] });
    work = await mkdtemp(join(tmpdir(), 'kiln-steps-'));
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('runs linux/amd64 natively and linux/arm64 under QEMU in one build', async () => {
    const amd = busybox({ os: 'linux', architecture: 'amd64' }).run({ shell: 'uname -m > /arch' }).root();
    const arm = busybox({ os: 'linux', architecture: 'arm64' }).run({ shell: 'uname -m > /arch' }).root();
    const both = scratch().file(copy(amd, '/arch', '/amd64').copy(arm, '/arch', '/arm64'));
    const out = join(work, 'arch');
    const result = await build(both, ['--output', `type=local,dest=${out}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(out, 'amd64'), 'utf8'), 'x86_64\n');
    assert.equal(await readFile(join(out, 'arm64'), 'utf8'), 'aarch64\n');
  });

  it('keeps a cache mount across builds and a daemon restart', async () => {
    const id = `counter-${Date.now()}`;
    const step = () =>
      busybox()
        .run({
          shell: 'n=$(cat /c/n 2>/dev/null || echo 0); echo $((n+1)) > /c/n; cp /c/n /n',
          mounts: [{ type: 'cache', dest: '/c', id }],
          ignoreCache: true,
        })
        .root();
    const counts: string[] = [];
    for (let i = 0; i < 4; i++) {
      if (i === 3) {
        assert.equal(await daemon.stop(), 0);
        daemon = await startKilnd({
          root: daemon.root,
          args: ['--allow-insecure-entitlement', 'security.insecure'],
        });
      }
      const out = join(work, `count-${i}`);
      const result = await build(step(), ['--output', `type=local,dest=${out}`]);
      assert.equal(result.code, 0, result.stderr);
      counts.push((await readFile(join(out, 'n'), 'utf8')).trim());
    }
    assert.deepEqual(counts, ['1', '2', '3', '4']);
  });

  it('serialises locked cache mounts and separates private ones', async () => {
    const marker = Date.now();
    const locked = (n: number) =>
      busybox()
        .run({
          shell: `echo start-${n} >> /c/log; sleep 0.5; echo end-${n} >> /c/log; cp /c/log /log`,
          mounts: [{ type: 'cache', dest: '/c', id: `locked-${marker}`, sharing: 'locked' }],
        })
        .root();
    const [a, b] = await Promise.all([
      build(locked(1), ['--output', `type=local,dest=${join(work, 'locked-1')}`]),
      build(locked(2), ['--output', `type=local,dest=${join(work, 'locked-2')}`]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const logs = [
      await readFile(join(work, 'locked-1', 'log'), 'utf8'),
      await readFile(join(work, 'locked-2', 'log'), 'utf8'),
    ];
    const full = logs
      .sort((x, y) => y.length - x.length)[0]!
      .trim()
      .split('\n');
    assert.equal(full.length, 4);
    assert.match(full[0]!, /^start-/);
    assert.equal(full[1], full[0]!.replace('start', 'end'), `not serialised: ${full.join(' ')}`);

    const priv = (n: number) =>
      busybox()
        .run({
          shell: `touch /c/mine-${n}; sleep 0.5; ls /c > /seen`,
          mounts: [{ type: 'cache', dest: '/c', id: `private-${marker}`, sharing: 'private' }],
        })
        .root();
    const [p1, p2] = await Promise.all([
      build(priv(1), ['--output', `type=local,dest=${join(work, 'private-1')}`]),
      build(priv(2), ['--output', `type=local,dest=${join(work, 'private-2')}`]),
    ]);
    assert.equal(p1.code, 0, p1.stderr);
    assert.equal(p2.code, 0, p2.stderr);
    assert.equal((await readFile(join(work, 'private-1', 'seen'), 'utf8')).trim(), 'mine-1');
    assert.equal((await readFile(join(work, 'private-2', 'seen'), 'utf8')).trim(), 'mine-2');
  });

  it('gives a secret to its step and keeps it out of results, the cache, the state and the logs', async () => {
    const secret = `s3cr3t-${Date.now()}-value`;
    const file = join(work, 'secret.txt');
    await writeFile(file, secret);
    const clean = busybox()
      .run({
        shell: 'wc -c < /run/secrets/token > /length; cat /run/secrets/token | sha256sum > /hash',
        mounts: [{ type: 'secret', dest: '/run/secrets/token', id: 'token' }],
      })
      .root();
    const out = join(work, 'secret-out');
    const result = await build(clean, [
      '--secret',
      `id=token,src=${file}`,
      '--output',
      `type=local,dest=${out}`,
      '--progress',
      'plain',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await readFile(join(out, 'length'), 'utf8')).trim(), String(secret.length));
    assert.deepEqual(await readdir(join(out, 'run')).catch(() => []), []);
    assert.doesNotMatch(result.stderr, new RegExp(secret));
    const { stdout } = await sh('grep', ['-rl', '--binary-files=text', secret, daemon.root]).catch(
      (e: { stdout: string }) => e,
    );
    assert.equal(stdout.trim(), '', `secret found in ${stdout}`);
    assert.doesNotMatch(daemon.logs(), new RegExp(secret));

    const missing = busybox()
      .run({ shell: 'true', mounts: [{ type: 'secret', dest: '/s', id: 'absent' }] })
      .root();
    const failed = await build(missing);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /secret absent not found/);
  });

  it('gives network=none only a loopback interface', async () => {
    const out = join(work, 'net');
    const state = busybox().run({ shell: 'cat /proc/net/dev > /dev-list', network: 'none' }).root();
    const result = await build(state, ['--output', `type=local,dest=${out}`]);
    assert.equal(result.code, 0, result.stderr);
    const interfaces = (await readFile(join(out, 'dev-list'), 'utf8'))
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter(Boolean);
    assert.deepEqual(interfaces, ['lo']);
  });

  it('refuses security.insecure without the client entitlement and runs it with both', async () => {
    const state = busybox()
      .run({ shell: 'grep CapEff /proc/self/status > /caps', security: 'insecure' })
      .root();
    const refused = await build(state);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /security\.insecure/);
    const out = join(work, 'caps');
    const allowed = await build(state, [
      '--allow',
      'security.insecure',
      '--output',
      `type=local,dest=${out}`,
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    // Privileged: every capability this (root) machine grants, far more than the sandbox's set.
    const own = /CapEff:\s+(\w+)/.exec(await readFile('/proc/self/status', 'utf8'))![1];
    assert.equal((await readFile(join(out, 'caps'), 'utf8')).trim(), `CapEff:\t${own}`);
  });

  it('shows the failing tail of a step that printed 10 MB', async () => {
    const state = busybox()
      .run({
        shell: `head -c 10000000 /dev/zero | tr '\\\\0' 'x' | fold -w 100; echo 'the real error: disk on fire' >&2; exit 7`,
        ignoreCache: true,
      })
      .root();
    const result = await build(state, ['--progress', 'plain']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /output clipped/);
    assert.match(result.stderr, /the real error: disk on fire/);
    assert.match(result.stderr, /exit code: 7/);
  });

  // 20 builds in CI (its 20-minute budget); KILN_TEST_FULL=1 runs 100.
  const soakBuilds = process.env.KILN_TEST_FULL ? 100 : 20;
  it(`leaves no mounts, containers, bundles or processes after ${soakBuilds} builds, some failing or cancelled`, async () => {
    const marker = Date.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < soakBuilds; i++) {
      const kind = i % 3;
      const state = busybox()
        .run({
          shell:
            kind === 1
              ? `echo ${marker}-${i}; exit 1`
              : kind === 2
                ? `sleep 30; echo ${marker}-${i}`
                : `echo ${marker}-${i}`,
        })
        .root();
      if (kind === 2) {
        const child = spawn(buildctlPath()!, ['--addr', daemon.address, 'build'], {
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        child.stdin.end(Buffer.from(def(state)));
        pending.push(
          sleep(1500)
            .then(() => child.kill('SIGINT'))
            .then(() => new Promise((r) => child.once('close', r))),
        );
      } else {
        pending.push(build(state));
      }
      if (pending.length >= 6) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    await sleep(1000);
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    assert.deepEqual(
      mountinfo.split('\n').filter((l) => l.includes(daemon.root)),
      [],
    );
    const runtime = join(daemon.root, 'executor', 'runtime');
    const { stdout } = await sh('runc', ['--root', runtime, 'list', '-q']).catch(() => ({ stdout: '' }));
    assert.equal(stdout.trim(), '');
    assert.deepEqual(await readdir(join(daemon.root, 'executor', 'bundles')).catch(() => []), []);
    const ps = await sh('ps', ['-eo', 'args']);
    assert.doesNotMatch(ps.stdout, new RegExp(`sleep 30; echo ${marker}`));
  });
});
