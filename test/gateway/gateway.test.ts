import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildctlPath } from '../fixtures/kilnd.js';
import { repoRoot } from './frontend-image.js';
import { startGatewayEnvironment, type GatewayEnvironment } from './harness.js';

const run = promisify(execFile);
const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';
const testdata = join(repoRoot, 'test', 'gateway', 'testdata');

describe('gateway.v0: frontend images over LLBBridge on their stdio', { skip }, () => {
  let env: GatewayEnvironment;
  let frontend: string;

  /** A gateway.v0 build of the test frontend in `mode`, exported to a local directory. */
  const build = async (mode: string, extra: readonly string[] = []) => {
    const out = join(env.work, `out-${mode}-${Date.now()}`);
    const r = await env.buildctl([
      'build',
      '--progress=plain',
      '--frontend',
      'gateway.v0',
      '--opt',
      `source=${frontend}`,
      '--opt',
      `mode=${mode}`,
      ...extra,
      '--output',
      `type=local,dest=${out}`,
    ]);
    return { ...r, out };
  };

  /** The daemon still builds: a report build succeeds after whatever came before. */
  const stillServing = async () => {
    const r = await build('report');
    assert.equal(r.code, 0, `the daemon should still serve:\n${r.stderr}\n${env.daemon.logs().slice(-2000)}`);
  };

  /** No container of the daemon's runtime is left running. */
  const noContainersLeft = async () => {
    const { stdout } = await run('runc', [
      '--root',
      join(env.daemon.root, 'executor', 'runtime'),
      'list',
      '-q',
    ]);
    assert.equal(stdout.trim(), '', 'containers left behind');
  };

  before(async () => {
    env = await startGatewayEnvironment();
    frontend = await env.frontendImage({
      name: 'kiln/test-frontend:test',
      entry: 'test/gateway/test-frontend.js',
      dockerfileDir: join(testdata, 'test-frontend'),
    });
  });

  after(async () => {
    await env?.stop();
  });

  it('runs the image with BuildKit’s environment, read-only, and returns its result', async () => {
    const r = await build('report', ['--opt', 'build-arg:X=1']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(await readFile(join(r.out, 'report.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(report.opts, { 'build-arg:X': '1', mode: 'report', source: frontend });
    assert.equal(report.product, 'kiln');
    assert.notEqual(report.sessionId, '');
    assert.deepEqual((report.platforms as unknown[])[0], { os: 'linux', architecture: 'amd64' });
    assert.ok((report.caps as string[]).includes('gateway.exec'));
    assert.ok((report.metadataBytes as number) > 0, 'the frontend definition is mounted');
    assert.equal(report.tmpWritable, true);
    assert.equal(report.rootWritable, false);
    assert.equal(report.cwd, '/');
  });

  it('serves containers: stdin, stdout, stderr and exit codes streamed, failures reported on release', async () => {
    const r = await build('exec', ['--opt', `busybox=${env.busybox}`]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(await readFile(join(r.out, 'exec.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(result, {
      exitCode: 3,
      out: 'HELLO FROM STDIN\n',
      err: 'to-stderr\n',
      releaseError: 'exit code: 3',
    });
    await noContainersLeft();
  });

  it('lets processes of a container run one after another on its shared mounts', async () => {
    const r = await build('exec-shared', ['--opt', `busybox=${env.busybox}`]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(await readFile(join(r.out, 'exec.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(result, { firstExit: 0, secondExit: 0, second: 'kept\nrooted\ntmpfs\n' });
    await noContainersLeft();
  });

  it('fails a build whose frontend crashes, with its exit code and last output', async () => {
    const r = await build('crash');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exited with code 3 without returning a result/);
    assert.match(r.stderr, /boom: something went badly wrong/);
    await stillServing();
  });

  it('stops a frontend that hangs after its idle timeout', async () => {
    const started = Date.now();
    const r = await build('hang', ['--opt', 'kiln.frontend-idle-timeout=2s']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /made no gateway call for 2 s and returned no result/);
    assert.ok(Date.now() - started < 30_000, 'stopped promptly');
    await noContainersLeft();
    await stillServing();
  });

  it('fails a build whose frontend solves invalid LLB, with the solver’s message', async () => {
    const r = await build('invalid-llb');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid|definition|decode/i);
    await stillServing();
  });

  it('fails a build whose frontend returns a ref it was never given', async () => {
    const r = await build('bad-ref');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no such ref "never-handed-out"/);
    await stillServing();
  });

  it('passes a returned error on with its kind and Dockerfile lines', async () => {
    const r = await build('fail');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /test frontend refuses: line 2 is wrong/);
    assert.match(r.stderr, /Dockerfile:2/);
    assert.match(r.stderr, /BROKEN/);
  });

  it('cancels a frontend when its client goes away', async () => {
    const child = spawn(
      buildctlPath()!,
      [
        '--addr',
        env.daemon.address,
        'build',
        '--frontend',
        'gateway.v0',
        '--opt',
        `source=${frontend}`,
        '--opt',
        'mode=hang',
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Give it time to start the frontend, then take buildctl away as Ctrl-C would.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    child.kill('SIGINT');
    await exited;
    const runtime = join(env.daemon.root, 'executor', 'runtime');
    for (let i = 0; i < 100; i++) {
      const { stdout } = await run('runc', ['--root', runtime, 'list', '-q']);
      if (stdout.trim() === '') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await noContainersLeft();
    await stillServing();
  });

  it('fails clearly without a source, and with a source that cannot be resolved', async () => {
    const none = await env.buildctl(['build', '--frontend', 'gateway.v0']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /gateway\.v0 needs the frontend image to run: pass --opt source=/);
    const missing = await env.buildctl([
      'build',
      '--frontend',
      'gateway.v0',
      '--opt',
      `source=${env.registry.host}/kiln/no-such-frontend:1`,
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no-such-frontend/);
    const dirs = await readdir(join(env.daemon.root, 'gateway')).catch(() => []);
    assert.deepEqual(dirs, [], 'no per-run files left');
  });
});
