import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseReference } from '../oci/index.js';
import { HostResolver, isLocalhost } from './index.js';

describe('HostResolver', () => {
  it('talks plain HTTP to loopback hosts and HTTPS elsewhere', async () => {
    const hosts = new HostResolver({});
    assert.deepEqual(
      (await hosts.endpoints('127.0.0.1:5000', 'pull')).map((e) => e.base),
      ['http://127.0.0.1:5000/v2'],
    );
    assert.deepEqual(
      (await hosts.endpoints('localhost', 'push')).map((e) => e.base),
      ['http://localhost/v2'],
    );
    assert.deepEqual(
      (await hosts.endpoints('ghcr.io', 'pull')).map((e) => e.base),
      ['https://ghcr.io/v2'],
    );
    assert.ok(isLocalhost('[::1]:5000'));
    assert.ok(!isLocalhost('registry.local:5000'));
  });

  it('sends docker.io references to registry-1.docker.io, mirrors first and only for pulls', async () => {
    const hosts = new HostResolver({
      hosts: { 'docker.io': { mirrors: ['mirror.example:5000/hub', 'https://other.example/'] } },
    });
    const ref = parseReference('busybox');
    const pull = await hosts.endpoints(ref.domain, 'pull');
    assert.deepEqual(
      pull.map((e) => [e.host, e.base, e.mirror]),
      [
        ['mirror.example:5000', 'https://mirror.example:5000/hub/v2', true],
        ['other.example', 'https://other.example/v2', true],
        ['registry-1.docker.io', 'https://registry-1.docker.io/v2', false],
      ],
    );
    const push = await hosts.endpoints(ref.domain, 'push');
    assert.deepEqual(
      push.map((e) => e.base),
      ['https://registry-1.docker.io/v2'],
    );
  });

  it('honours http, insecure and per-mirror settings', async () => {
    const hosts = new HostResolver({
      hosts: {
        'plain.example': { http: true },
        'both.example': { http: true, insecure: true },
        '127.0.0.1:5443': { http: false, insecure: true },
        'origin.example': { mirrors: ['plain.example'] },
      },
    });
    try {
      assert.deepEqual(
        (await hosts.endpoints('plain.example', 'pull')).map((e) => e.base),
        ['http://plain.example/v2'],
      );
      const both = await hosts.endpoints('both.example', 'pull');
      assert.deepEqual(
        both.map((e) => [e.base, e.dispatcher !== undefined]),
        [
          ['http://both.example/v2', false],
          ['https://both.example/v2', true],
        ],
      );
      const local = await hosts.endpoints('127.0.0.1:5443', 'pull');
      assert.deepEqual(
        local.map((e) => [e.base, e.dispatcher !== undefined]),
        [['https://127.0.0.1:5443/v2', true]],
      );
      assert.deepEqual(
        (await hosts.endpoints('origin.example', 'pull')).map((e) => e.base),
        ['http://plain.example/v2', 'https://origin.example/v2'],
      );
    } finally {
      await hosts.close();
    }
  });

  it('reports an unreadable CA file as a configuration error', async () => {
    const hosts = new HostResolver({ hosts: { 'secure.example': { ca: ['/nonexistent/ca.pem'] } } });
    await assert.rejects(hosts.endpoints('secure.example', 'pull'), {
      code: 'KILN_REGISTRY_CONFIG',
      message: /secure\.example: cannot read CA file \/nonexistent\/ca\.pem/,
    });
  });
});
