import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testDaemons, startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import {
  BuilderFileError,
  NoNodeAvailableError,
  builderFromAddresses,
  loadBuilderFile,
  rendezvousOrder,
  routeBuild,
  routeRequest,
} from './index.js';

describe('rendezvousOrder', () => {
  const nodes = ['kilnd-0', 'kilnd-1', 'kilnd-2'];
  const keys = Array.from({ length: 3000 }, (_, i) => `/src/project-${i}\n/src/project-${i}/Dockerfile`);

  it('orders every node, the same way on every call', () => {
    const order = rendezvousOrder(nodes, keys[0]!);
    assert.deepEqual([...order].sort(), nodes);
    assert.deepEqual(rendezvousOrder([...nodes].reverse(), keys[0]!), order, 'input order does not matter');
  });

  it('spreads keys evenly', () => {
    const counts = new Map<string, number>();
    for (const k of keys) {
      const n = rendezvousOrder(nodes, k)[0]!;
      counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    for (const n of nodes) {
      const share = (counts.get(n) ?? 0) / keys.length;
      assert.ok(share > 0.28 && share < 0.39, `${n} got ${share}`);
    }
  });

  it('moves only the removed node’s keys when a node leaves, and only new keys when one joins', () => {
    let moved = 0;
    for (const k of keys) {
      const before = rendezvousOrder(nodes, k)[0]!;
      const after = rendezvousOrder(['kilnd-0', 'kilnd-2'], k)[0]!;
      if (before !== 'kilnd-1') assert.equal(after, before, `key ${k} moved off a node that stayed`);
      else moved++;
      const grown = rendezvousOrder([...nodes, 'kilnd-3'], k)[0]!;
      assert.ok(grown === before || grown === 'kilnd-3');
    }
    assert.ok(moved > 0);
  });
});

describe('routeRequest', () => {
  it('keys on the context and Dockerfile paths, resolved against the working directory', () => {
    const r = routeRequest({
      frontendOpts: {},
      locals: { context: 'app', dockerfile: 'app/docker' },
      cwd: '/src',
    });
    assert.deepEqual(r, { affinity: '/src/app\n/src/app/docker/Dockerfile', affinitySource: 'context' });
    const named = routeRequest({
      frontendOpts: { filename: 'prod.Dockerfile' },
      locals: { context: '/src/app', dockerfile: '/src/app' },
      cwd: '/elsewhere',
    });
    assert.equal(named.affinity, '/src/app\n/src/app/prod.Dockerfile');
    assert.notEqual(named.affinity, r.affinity);
  });

  it('prefers kiln.affinity, and falls back to a remote context or nothing', () => {
    const locals = { context: '/src/app' };
    assert.deepEqual(routeRequest({ frontendOpts: { 'kiln.affinity': 'shop' }, locals, cwd: '/' }), {
      affinity: 'shop',
      affinitySource: 'option',
    });
    assert.equal(
      routeRequest({ frontendOpts: { context: 'https://git.example/shop.git#main' }, locals: {}, cwd: '/' })
        .affinity,
      'https://git.example/shop.git#main\nDockerfile',
    );
    assert.equal(routeRequest({ frontendOpts: {}, locals: {}, cwd: '/' }).affinitySource, 'none');
  });

  it('takes a single platform only', () => {
    const one = routeRequest({ frontendOpts: { platform: 'linux/arm64' }, locals: {}, cwd: '/' });
    assert.deepEqual(one.platform, { os: 'linux', architecture: 'arm64' });
    const two = routeRequest({ frontendOpts: { platform: 'linux/amd64,linux/arm64' }, locals: {}, cwd: '/' });
    assert.equal(two.platform, undefined);
    const bad = routeRequest({ frontendOpts: { platform: 'linux/arm64/v8/x' }, locals: {}, cwd: '/' });
    assert.equal(bad.platform, undefined);
  });
});

describe('loadBuilderFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-builder-'));
    await mkdir(join(dir, 'certs'));
    for (const f of ['ca.pem', 'client.pem', 'client-key.pem', 'other-ca.pem']) {
      await writeFile(join(dir, 'certs', f), `${f}\n`);
    }
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const write = async (text: string): Promise<string> => {
    const path = join(dir, `builder-${Math.random().toString(36).slice(2)}.toml`);
    await writeFile(path, text);
    return path;
  };

  it('reads nodes, platforms and TLS files relative to the file', async () => {
    const path = await write(`
[tls]
ca = "certs/ca.pem"
cert = "certs/client.pem"
key = "certs/client-key.pem"

[[node]]
name = "kilnd-0"
address = "tcp://kilnd-0.kilnd-headless:1234"
platforms = ["linux/amd64"]

[[node]]
address = "tcp://arm.example:1234"
platforms = ["linux/arm64/v8"]
[node.tls]
ca = "certs/other-ca.pem"
servername = "kilnd"
`);
    const b = await loadBuilderFile(path);
    assert.equal(b.nodes.length, 2);
    const [a, c] = b.nodes;
    assert.equal(a!.name, 'kilnd-0');
    assert.deepEqual(a!.platforms, [{ os: 'linux', architecture: 'amd64' }]);
    assert.equal(String(a!.tls?.ca), 'ca.pem\n');
    assert.equal(String(a!.tls?.key), 'client-key.pem\n');
    assert.equal(a!.tls?.serverName, 'kilnd-0.kilnd-headless');
    assert.equal(c!.name, 'tcp://arm.example:1234', 'the address names an unnamed node');
    assert.deepEqual(c!.platforms, [{ os: 'linux', architecture: 'arm64' }]);
    assert.equal(String(c!.tls?.ca), 'other-ca.pem\n', '[node.tls] overrides [tls]');
    assert.equal(String(c!.tls?.cert), 'client.pem\n', 'and inherits the rest');
    assert.equal(c!.tls?.serverName, 'kilnd');
  });

  it('rejects what would silently misroute', async () => {
    const cases: Array<[string, RegExp]> = [
      ['[[node]]\naddress = "unix:///a"\nplatform = ["linux/arm64"]\n', /node\[0\]\.platform: unknown key/],
      [
        '[[node]]\nname = "a"\naddress = "unix:///a"\n[[node]]\nname = "a"\naddress = "unix:///b"\n',
        /node\[1\]\.name: "a" names two nodes/,
      ],
      ['[[node]]\naddress = "http://a:1"\n', /node\[0\]\.address: unsupported address/],
      ['[[node]]\naddress = "unix:///a"\nplatforms = ["linux/arm64/v8/x"]\n', /node\[0\]\.platforms/],
      ['nodes = []\n', /nodes: unknown key/],
      ['[tls]\nca = "x"\n', /node: expected at least one \[\[node\]\] table/],
      ['[[node]]\naddress = "unix:///a"\n[node.tls]\ncacert = "x"\n', /node\[0\]\.tls\.cacert: unknown key/],
      ['[[node]\n', /builder file .*: /],
    ];
    for (const [text, pattern] of cases) {
      const path = await write(text);
      await assert.rejects(loadBuilderFile(path), (err: unknown) => {
        assert.ok(err instanceof BuilderFileError, String(err));
        assert.equal(err.code, 'KILN_CLIENT_BUILDER_FILE');
        assert.match(err.message, pattern);
        return true;
      });
    }
  });
});

for (const { kind, skip } of testDaemons()) {
  describe(`routeBuild against ${kind}`, { skip }, () => {
    let daemon: TestDaemon;
    let dir: string;
    before(async () => {
      daemon = await startTestDaemon(kind);
      dir = await mkdtemp(join(tmpdir(), 'kiln-route-'));
    });
    after(async () => {
      await daemon?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('skips a node that is not there and learns native platforms from ListWorkers', async () => {
      const gone = `unix://${join(dir, 'gone.sock')}`;
      const builder = await builderFromAddresses([gone, daemon.address]);
      const request = routeRequest({ frontendOpts: { platform: 'linux/amd64' }, locals: {}, cwd: '/' });
      const d = await routeBuild(builder, request, { timeoutMs: 5000 });
      assert.equal(d.node.address, daemon.address);
      assert.equal(d.reason, 'platform');
      const [down, up] = d.statuses;
      assert.equal(down!.state, 'unreachable');
      assert.ok(down!.reason);
      assert.equal(up!.state, 'serving');
      assert.deepEqual(up!.native, [{ os: 'linux', architecture: 'amd64' }]);
    });

    it('keeps the default platform of a first node that is not serving', async () => {
      const builder = {
        nodes: [
          {
            name: 'arm-node',
            address: `unix://${join(dir, 'leaving.sock')}`,
            platforms: [{ os: 'linux', architecture: 'arm64' }],
          },
          { name: 'amd-node', address: daemon.address },
        ],
      };
      const request = routeRequest({ frontendOpts: {}, locals: {}, cwd: '/' });
      const d = await routeBuild(builder, request, { timeoutMs: 5000 });
      assert.equal(d.node.name, 'amd-node');
      assert.deepEqual(d.platform, { os: 'linux', architecture: 'arm64' }, 'not the serving node’s amd64');
      assert.equal(d.emulated, true);
    });

    it('hashes a build no node runs natively, and fails with every node’s reason when none serves', async () => {
      const builder = await builderFromAddresses([daemon.address, `unix://${join(dir, 'other.sock')}`]);
      const request = routeRequest({ frontendOpts: { platform: 'linux/s390x' }, locals: {}, cwd: '/' });
      const d = await routeBuild(builder, request, { timeoutMs: 5000 });
      assert.equal(d.reason, 'affinity');
      assert.equal(d.node.address, daemon.address);
      const dead = await builderFromAddresses([
        `unix://${join(dir, 'a.sock')}`,
        `unix://${join(dir, 'b.sock')}`,
      ]);
      await assert.rejects(routeBuild(dead, request, { timeoutMs: 2000 }), (err: unknown) => {
        assert.ok(err instanceof NoNodeAvailableError);
        assert.equal(err.kind, 'unavailable');
        assert.equal(err.nodes.length, 2);
        assert.match(err.message, /a\.sock\) is unreachable/);
        return true;
      });
    });
  });
}
