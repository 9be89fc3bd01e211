import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrontendEnvironmentError, readFrontendEnvironment } from './index.js';

describe('readFrontendEnvironment', () => {
  it('reads options, session, workers and product as BuildKit sets them', () => {
    const env = readFrontendEnvironment({
      BUILDKIT_FRONTEND_OPT_0: 'source=127.0.0.1:5000/kiln/dockerfile:test',
      BUILDKIT_FRONTEND_OPT_1: 'build-arg:A=x=y',
      BUILDKIT_FRONTEND_OPT_2: 'no-cache=',
      BUILDKIT_FRONTEND_OPT_3: 'flag',
      BUILDKIT_SESSION_ID: 'sess',
      BUILDKIT_WORKERS: JSON.stringify([
        {
          ID: 'w1',
          Labels: {},
          Platforms: [
            { architecture: 'amd64', os: 'linux' },
            { architecture: 'arm64', os: 'linux', variant: 'v8' },
          ],
        },
      ]),
      BUILDKIT_EXPORTEDPRODUCT: 'kiln',
      PATH: '/bin',
    });
    assert.deepEqual(env.opts, {
      source: '127.0.0.1:5000/kiln/dockerfile:test',
      'build-arg:A': 'x=y',
      'no-cache': '',
      flag: '',
    });
    assert.equal(env.sessionId, 'sess');
    assert.equal(env.product, 'kiln');
    assert.deepEqual(env.workers, [
      {
        id: 'w1',
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64', variant: 'v8' },
        ],
      },
    ]);
  });

  it('is empty outside a frontend container, and refuses malformed workers', () => {
    assert.deepEqual(readFrontendEnvironment({}), { opts: {}, sessionId: '', workers: [], product: '' });
    assert.throws(
      () => readFrontendEnvironment({ BUILDKIT_WORKERS: '{not json' }),
      (err: unknown) => err instanceof FrontendEnvironmentError && err.code === 'KILN_GATEWAY_ENVIRONMENT',
    );
    assert.throws(() => readFrontendEnvironment({ BUILDKIT_WORKERS: '{}' }), /JSON array/);
  });
});
