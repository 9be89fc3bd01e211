import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frontendNetwork, frontendProcess, imageCaps, type FrontendImageConfig } from './index.js';

const config: FrontendImageConfig = {
  env: ['PATH=/usr/bin', 'LANG=C'],
  entrypoint: ['node', '/app/main.js'],
  workingDir: '/app',
  labels: {
    'moby.buildkit.frontend.caps':
      'moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests+forward, ',
    'moby.buildkit.frontend.network.none': 'true',
  },
};
const worker = {
  id: 'w1',
  labels: { 'org.mobyproject.buildkit.worker.executor': 'oci' },
  platforms: [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ],
};

describe('frontendProcess', () => {
  it('runs the entrypoint with the image env and BuildKit’s variables, options in key order', () => {
    const spec = frontendProcess({
      config,
      opts: { source: 'img', 'build-arg:A': 'x=y', cmdline: 'img --flag' },
      sessionId: 's1',
      worker,
      product: 'kiln',
    });
    assert.deepEqual(spec.args, ['node', '/app/main.js']);
    assert.equal(spec.cwd, '/app');
    assert.equal(spec.user, undefined);
    assert.deepEqual(spec.env, [
      'PATH=/usr/bin',
      'LANG=C',
      'BUILDKIT_FRONTEND_OPT_0=build-arg:A=x=y',
      'BUILDKIT_FRONTEND_OPT_1=cmdline=img --flag',
      'BUILDKIT_FRONTEND_OPT_2=source=img',
      'BUILDKIT_SESSION_ID=s1',
      'BUILDKIT_WORKERS=[{"ID":"w1","Labels":{"org.mobyproject.buildkit.worker.executor":"oci"},"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux","variant":"v8"}]}]',
      'BUILDKIT_EXPORTEDPRODUCT=kiln',
    ]);
    assert.ok(
      spec.validExitCodes?.includes(0) && spec.validExitCodes.includes(255),
      'every exit code is accepted',
    );
  });

  it('runs /run in / when the image names no entrypoint or working directory', () => {
    const spec = frontendProcess({
      config: { env: [], entrypoint: undefined, workingDir: '', labels: {} },
      opts: {},
      sessionId: '',
      worker,
      product: 'kiln',
    });
    assert.deepEqual(spec.args, ['/run']);
    assert.equal(spec.cwd, '/');
  });
});

describe('frontend image labels', () => {
  it('lists the declared caps without their suffixes', () => {
    assert.deepEqual([...imageCaps(config)].sort(), [
      'moby.buildkit.frontend.inputs',
      'moby.buildkit.frontend.subrequests',
    ]);
    assert.deepEqual([...imageCaps({ ...config, labels: {} })], []);
  });

  it('gives a frontend no network unless its image asks for one', () => {
    assert.equal(frontendNetwork(config), 'none');
    assert.equal(frontendNetwork({ ...config, labels: {} }), 'none');
    assert.equal(
      frontendNetwork({ ...config, labels: { 'moby.buildkit.frontend.network.none': 'false' } }),
      'sandbox',
    );
  });
});
