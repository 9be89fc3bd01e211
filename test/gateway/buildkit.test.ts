import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath } from '../fixtures/kilnd.js';
import { listTree } from '../dockerfile/tree.js';
import { buildkitdPath, startBuildkitd, type BuildkitdProcess } from './buildkitd.js';
import { repoRoot } from './frontend-image.js';
import { startGatewayEnvironment, type GatewayEnvironment } from './harness.js';

const skip = !buildctlPath() ? 'no buildctl' : !buildkitdPath() ? 'no buildkitd (set BUILDKITD)' : false;

const dockerfile = `ARG BUSYBOX
FROM $BUSYBOX AS base
RUN echo base > /base.txt
FROM base AS extra
COPY hello.txt /extra/
RUN ls /extra > /extra/list.txt
FROM base
COPY --from=extra /extra /copied
ENV GREETING=hi
RUN echo "$GREETING" > /greeting.txt
`;

// The frontend images kiln builds, run by the real BuildKit v0.11.6: kiln's SDK talks to
// BuildKit's own LLBBridge server (environment, Solve, Return, errors, containers).
describe('kiln’s frontend images on the real BuildKit', { skip }, () => {
  let env: GatewayEnvironment;
  let buildkitd: BuildkitdProcess;
  let dockerfileImage: string;
  let testImage: string;
  let context: string;

  const build = async (address: string, name: string, args: readonly string[]) => {
    const out = join(env.work, `out-${name}`);
    const r = await buildctl(address, [
      'build',
      '--progress=plain',
      '--local',
      `context=${context}`,
      '--local',
      `dockerfile=${context}`,
      '--opt',
      `build-arg:BUSYBOX=${env.busybox}`,
      ...args,
      '--output',
      `type=local,dest=${out}`,
    ]);
    return { ...r, out };
  };

  before(async () => {
    env = await startGatewayEnvironment();
    [dockerfileImage, testImage] = await Promise.all([
      env.frontendImage({
        name: 'kiln/dockerfile:test',
        entry: 'frontend/gateway/frontend-main.js',
        dockerfileDir: join(repoRoot, 'frontend'),
      }),
      env.frontendImage({
        name: 'kiln/test-frontend:test',
        entry: 'test/gateway/test-frontend.js',
        dockerfileDir: join(repoRoot, 'test', 'gateway', 'testdata', 'test-frontend'),
      }),
    ]);
    buildkitd = await startBuildkitd({ registries: [env.registry.host] });
    context = join(env.work, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    await writeFile(join(context, 'hello.txt'), 'hello\n');
  });

  after(async () => {
    await buildkitd?.stop();
    await env?.stop();
  });

  it('builds a Dockerfile through kiln’s frontend image as BuildKit’s built-in frontend does', async () => {
    const builtIn = await build(buildkitd.address, 'buildkit-builtin', ['--frontend', 'dockerfile.v0']);
    assert.equal(builtIn.code, 0, builtIn.stderr);
    const viaImage = await build(buildkitd.address, 'buildkit-image', [
      '--frontend',
      'gateway.v0',
      '--opt',
      `source=${dockerfileImage}`,
    ]);
    assert.equal(viaImage.code, 0, `${viaImage.stderr}\n${buildkitd.logs().slice(-3000)}`);
    assert.deepEqual(await listTree(viaImage.out), await listTree(builtIn.out));
    assert.equal(await readFile(join(viaImage.out, 'copied', 'list.txt'), 'utf8'), 'hello.txt\nlist.txt\n');
  });

  it('runs processes in BuildKit’s gateway containers as in kiln’s', async () => {
    const results = [];
    for (const [name, address] of [
      ['buildkit', buildkitd.address],
      ['kiln', env.daemon.address],
    ] as const) {
      const r = await build(address, `exec-${name}`, [
        '--frontend',
        'gateway.v0',
        '--opt',
        `source=${testImage}`,
        '--opt',
        'mode=exec',
        '--opt',
        `busybox=${env.busybox}`,
      ]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      results.push(JSON.parse(await readFile(join(r.out, 'exec.json'), 'utf8')) as unknown);
    }
    assert.deepEqual(results[1], results[0]);
  });

  it('shows the Dockerfile lines of an error the frontend returns, as kiln does', async () => {
    const lines = [];
    for (const address of [buildkitd.address, env.daemon.address]) {
      const r = await build(address, `fail-${lines.length}`, [
        '--frontend',
        'gateway.v0',
        '--opt',
        `source=${testImage}`,
        '--opt',
        'mode=fail',
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /test frontend refuses: line 2 is wrong/);
      lines.push(r.stderr.split('\n').filter((l) => /^Dockerfile:\d+$/.test(l) || /^\s*\d+ \| /.test(l)));
    }
    assert.ok(lines[0]!.length > 0, 'BuildKit shows the lines');
    assert.deepEqual(lines[1], lines[0]);
  });

  it('passes the same options to the frontend', async () => {
    const reports = [];
    for (const address of [buildkitd.address, env.daemon.address]) {
      const r = await build(address, `report-${reports.length}`, [
        '--frontend',
        'gateway.v0',
        '--opt',
        `source=${testImage}`,
        '--opt',
        'build-arg:Y=2',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await readFile(join(r.out, 'report.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      reports.push({ opts: report.opts, cwd: report.cwd, metadata: (report.metadataBytes as number) > 0 });
    }
    assert.deepEqual(reports[1], reports[0]);
  });
});
