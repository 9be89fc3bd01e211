import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { pullAndUnpack, runInRootfs, type PulledImage } from './image-rootfs.js';
import { nodeBaseSkipReason, pushNodeBase } from './node-base-image.js';
import { check, kilnctl, repoRoot } from './processes.js';

const run = promisify(execFile);
const skip = nodeBaseSkipReason();

/**
 * Issue 12, part 5: kiln builds its own image from the root Dockerfile. The base is a local
 * stand-in for node:20-bookworm-slim (Debian bookworm + Node 20); the build runs `apt-get` and
 * `npm ci` against Debian's archive and the npm registry like any user's build, compiles kiln
 * and pushes the image; the test then unpacks the pushed image and runs it under runc.
 */
describe('kilnd image built by kiln from the root Dockerfile', { skip, timeout: 45 * 60_000 }, () => {
  let work: string;
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let image: PulledImage;
  let buildLog = '';
  let imageRef = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-image-'));
    registry = await startRegistry({ auth: 'none' });
    const base = await pushNodeBase(registry);
    daemon = await startKilnd();
    // The committed tree (other work in progress in the checkout stays out) with this Dockerfile.
    const context = join(work, 'context');
    await mkdir(context);
    await run('sh', ['-c', `git -C '${repoRoot}' archive HEAD | tar -x -C '${context}'`]);
    for (const file of ['Dockerfile', 'Dockerfile.dockerignore']) {
      await copyFile(join(repoRoot, file), join(context, file));
    }
    imageRef = `${registry.host}/kiln/kilnd:test`;
    const result = await kilnctl(
      [
        '--addr',
        daemon.address,
        'build',
        '--progress',
        'plain',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${context}`,
        '--local',
        `dockerfile=${context}`,
        '--opt',
        `build-arg:BASE=${base}`,
        '--output',
        `type=image,name=${imageRef},push=true`,
      ],
      { timeoutMs: 40 * 60_000 },
    );
    buildLog = result.stderr;
    check(result, `kilnctl build of the kilnd image\n${daemon.logs().slice(-4000)}`);
    image = await pullAndUnpack(imageRef, join(work, 'pulled'));
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ran the Dockerfile as a user would: npm ci, the build, apt-get for runc and QEMU', () => {
    assert.match(buildLog, /RUN npm ci/);
    assert.match(buildLog, /RUN npm run build/);
    assert.match(buildLog, /apt-get install -y --no-install-recommends runc qemu-user-static/);
    assert.match(buildLog, /pushing manifest/);
  });

  it('has kilnd behind tini as its entrypoint and /var/lib/kiln as a volume', () => {
    assert.deepEqual(image.config.config?.Entrypoint, ['/usr/bin/tini', '--', 'kilnd']);
    assert.ok(image.config.config?.Volumes && '/var/lib/kiln' in image.config.config.Volumes);
    assert.equal(image.config.architecture, 'amd64');
    assert.equal(image.config.config?.WorkingDir, '/opt/kiln');
  });

  it('runs `kilnd --help` under runc from the unpacked image', async () => {
    const env = image.config.config?.Env ?? [];
    const r = await runInRootfs(image.rootfs, join(work, 'bundle'), ['kilnd', '--help'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: kilnd \[options\]/);
    assert.match(r.stdout, /--debugaddr ADDRESS/);
  });

  it('ships runc, QEMU for arm64, kilnctl and native modules built for its own Node', async () => {
    const env = image.config.config?.Env ?? [];
    const bundle = join(work, 'bundle');
    const runc = check(await runInRootfs(image.rootfs, bundle, ['runc', '--version'], env), 'runc --version');
    assert.match(runc.stdout, /^runc version 1\./);
    const qemu = check(
      await runInRootfs(image.rootfs, bundle, ['qemu-aarch64-static', '--version'], env),
      'qemu-aarch64-static --version',
    );
    assert.match(qemu.stdout, /qemu-aarch64 version/);
    const ctl = check(
      await runInRootfs(image.rootfs, bundle, ['kilnctl', '--version'], env),
      'kilnctl --version',
    );
    assert.match(ctl.stdout, /^kilnctl kiln \d+\.\d+\.\d+/);
    const native = check(
      await runInRootfs(
        image.rootfs,
        bundle,
        [
          'node',
          '-e',
          "const D=require('/opt/kiln/node_modules/better-sqlite3');const z=require('/opt/kiln/node_modules/zstd-napi');" +
            "console.log(new D(':memory:').prepare('select 41+1 as v').get().v, z.decompress(z.compress(Buffer.from('kiln'))).toString())",
        ],
        env,
      ),
      'native modules',
    );
    assert.equal(native.stdout.trim(), '42 kiln');
  });

  it('carries no development dependencies, tests or sources', async () => {
    const env = image.config.config?.Env ?? [];
    const r = check(
      await runInRootfs(
        image.rootfs,
        join(work, 'bundle'),
        [
          'sh',
          '-c',
          'ls /opt/kiln/node_modules; ls /opt/kiln/dist; find /opt/kiln/dist -name "*.test.js" | wc -l',
        ],
        env,
      ),
      'listing /opt/kiln',
    );
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes('better-sqlite3'));
    assert.ok(!lines.includes('typescript'), 'typescript is a devDependency');
    assert.ok(!lines.includes('eslint'));
    assert.ok(lines.includes('daemon') && lines.includes('client'));
    assert.ok(!lines.includes('test') && !lines.includes('bench'));
    assert.equal(lines.at(-2), '0', 'no compiled tests');
  });
});
