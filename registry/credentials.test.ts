import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chainCredentials, dockerConfigCredentials } from './index.js';

describe('dockerConfigCredentials', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-creds-'));
    // A credential helper speaking the protocol: server URL on stdin, JSON on stdout.
    await writeFile(
      join(dir, 'docker-credential-kilntest'),
      '#!/bin/sh\nread server\nif [ "$server" = "helped.example" ]; then\n' +
        '  echo \'{"ServerURL":"helped.example","Username":"helper-user","Secret":"helper-secret"}\'\n' +
        'elif [ "$server" = "https://index.docker.io/v1/" ]; then\n' +
        '  echo \'{"ServerURL":"x","Username":"<token>","Secret":"identity"}\'\n' +
        'elif [ "$server" = "broken.example" ]; then\n  exit 3\n' +
        'else\n  echo "credentials not found in native keychain"; exit 1\nfi\n',
    );
    await chmod(join(dir, 'docker-credential-kilntest'), 0o755);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'https://registry.example/v1/': {
            auth: Buffer.from('alice:s3cret:with:colons').toString('base64'),
          },
          'plain.example:5000': { username: 'bob', password: 'pw' },
          'token.example': { identitytoken: 'refresh-me' },
          'helped.example': {},
        },
        credHelpers: { 'helped.example': 'kilntest', 'broken.example': 'kilntest' },
        credsStore: 'kilntest',
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const provider = (): ReturnType<typeof dockerConfigCredentials> =>
    dockerConfigCredentials(join(dir, 'config.json'), { helperDir: dir });

  it('reads auths entries in their three spellings, matching URL keys by host', async () => {
    assert.deepEqual(await provider()('registry.example'), {
      username: 'alice',
      secret: 's3cret:with:colons',
    });
    assert.deepEqual(await provider()('plain.example:5000'), { username: 'bob', secret: 'pw' });
    assert.deepEqual(await provider()('token.example'), { username: '', secret: 'refresh-me' });
  });

  it('asks credHelpers, then credsStore, mapping Docker Hub hosts to its index URL', async () => {
    assert.deepEqual(await provider()('helped.example'), {
      username: 'helper-user',
      secret: 'helper-secret',
    });
    assert.deepEqual(await provider()('registry-1.docker.io'), { username: '', secret: 'identity' });
    assert.equal(await provider()('unknown.example'), undefined);
    await assert.rejects(provider()('broken.example'), {
      code: 'KILN_REGISTRY_CREDENTIAL_HELPER',
      message: /docker-credential-kilntest get for broken\.example: exited with 3/,
    });
  });

  it('treats a missing config as anonymous and chains providers', async () => {
    const missing = dockerConfigCredentials(join(dir, 'nope.json'));
    assert.equal(await missing('registry.example'), undefined);
    const chained = chainCredentials(missing, async (host) =>
      host === 'x.example' ? { username: 'u', secret: 's' } : undefined,
    );
    assert.deepEqual(await chained('x.example'), { username: 'u', secret: 's' });
    assert.equal(await chained('y.example'), undefined);
  });
});
