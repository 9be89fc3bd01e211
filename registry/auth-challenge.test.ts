import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from './index.js';

describe('parseChallenges', () => {
  it('reads a bearer challenge with a quoted scope holding commas', () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"';
    assert.deepEqual(parseChallenges(header), [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull,push',
        },
      },
    ]);
  });

  it('reads several challenges, token values, spaces and escapes', () => {
    const header =
      'Basic realm="kiln \\"test\\"" , Bearer realm=http://127.0.0.1:9/token, error=insufficient_scope';
    assert.deepEqual(parseChallenges(header), [
      { scheme: 'basic', params: { realm: 'kiln "test"' } },
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:9/token', error: 'insufficient_scope' } },
    ]);
  });

  it('lowercases schemes and parameter names, and yields nothing for an empty header', () => {
    assert.deepEqual(parseChallenges('BASIC Realm="r"'), [{ scheme: 'basic', params: { realm: 'r' } }]);
    assert.deepEqual(parseChallenges(''), []);
  });
});
