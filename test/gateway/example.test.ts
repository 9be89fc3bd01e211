import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildctlPath } from '../fixtures/kilnd.js';
import { readImageConfigs } from '../dockerfile/image-configs.js';
import { repoRoot } from './frontend-image.js';
import { startGatewayEnvironment, type GatewayEnvironment } from './harness.js';

const run = promisify(execFile);
const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';
const example = join(repoRoot, 'examples', 'json-frontend');

// The example frontend (examples/json-frontend) compiled as a third party would (its own
// tsconfig), packaged by its Dockerfile on the Node base image, and used through gateway.v0.
describe('the JSON example frontend through buildctl --frontend gateway.v0', { skip }, () => {
  let env: GatewayEnvironment;
  let frontend: string;
  let specDir: string;

  const build = (output: string, dir = specDir) =>
    env.buildctl([
      'build',
      '--progress=plain',
      '--frontend',
      'gateway.v0',
      '--opt',
      `source=${frontend}`,
      '--local',
      `dockerfile=${dir}`,
      '--local',
      `context=${dir}`,
      '--output',
      output,
    ]);

  before(async () => {
    env = await startGatewayEnvironment();
    await run(
      join(repoRoot, 'node_modules', '.bin', 'tsc'),
      ['-p', join(repoRoot, 'examples', 'tsconfig.json')],
      {
        cwd: repoRoot,
      },
    );
    frontend = await env.frontendImage({
      name: 'examples/json-frontend:test',
      distRoot: join(repoRoot, 'dist-examples'),
      entry: 'examples/json-frontend/src/main.js',
      dockerfileDir: example,
    });
    specDir = join(env.work, 'spec');
    await cp(join(example, 'sample'), specDir, { recursive: true });
    const spec = JSON.parse(await readFile(join(specDir, 'build.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(specDir, 'build.json'), JSON.stringify({ ...spec, base: env.busybox }));
  });

  after(async () => {
    await env?.stop();
  });

  it('builds the sample spec: files, context copies and steps', async () => {
    const out = join(env.work, 'out');
    const r = await build(`type=local,dest=${out}`);
    assert.equal(r.code, 0, `${r.stderr}\n${env.daemon.logs().slice(-2000)}`);
    assert.equal(await readFile(join(out, 'app', 'greeting.txt'), 'utf8'), 'hello from json\n');
    assert.equal(await readFile(join(out, 'app', 'config', 'settings.ini'), 'utf8'), '[app]\nmode=demo\n');
    assert.equal(await readFile(join(out, 'app', 'site', 'index.html'), 'utf8'), '<h1>hello</h1>\n');
    assert.equal(await readFile(join(out, 'app', 'listing.txt'), 'utf8'), 'index.html\nstyle.css\n');
    assert.ok((await readFile(join(out, 'bin', 'busybox'))).length > 0, 'on top of the base image');
  });

  it('returns the image config the spec describes', async () => {
    const tarball = join(env.work, 'image.tar');
    const r = await build(`type=oci,dest=${tarball}`);
    assert.equal(r.code, 0, r.stderr);
    const configs = await readImageConfigs(tarball, { keepTimes: false, hosts: new Map() });
    const config = configs['linux/amd64'] as { config: Record<string, unknown> };
    assert.ok(config, `configs: ${Object.keys(configs).join(', ')}`);
    assert.deepEqual(config.config.Cmd, ['cat', '/app/greeting.txt']);
    assert.equal(config.config.WorkingDir, '/app');
    assert.ok((config.config.Env as string[]).includes('GREETING=hello from json'));
    assert.deepEqual(config.config.Labels, { 'org.example.frontend': 'json' });
  });

  it('fails with the frontend’s own message for a bad spec', async () => {
    const bad = join(env.work, 'bad-spec');
    await cp(specDir, bad, { recursive: true });
    await writeFile(join(bad, 'build.json'), JSON.stringify({ base: env.busybox, workdir: 'relative' }));
    const r = await build(`type=local,dest=${join(env.work, 'bad-out')}`, bad);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /build\.json: workdir must be an absolute path/);
  });
});
