import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parsePlatform, type Digest } from '../../oci/index.js';
import { RegistryClient, type RegistryClientOptions } from '../../registry/index.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { startFaultyProxy, type Fault, type FaultyProxy, type ProxiedRequest } from './faulty-proxy.js';
import { tempStore } from './harness.js';

const amd64 = parsePlatform('linux/amd64');
const fast: RegistryClientOptions = { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 } };

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('pulls through failures', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  let layer: Digest;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    pushed = await pushBusyboxIndex(registry);
    layer = pushed.layout.images.amd64.layer.digest;
  });
  after(() => registry?.stop());

  /** A proxy whose `decide` sees each request with its running count for that method and path. */
  async function proxyWith(
    decide: (req: ProxiedRequest, nth: number) => Fault | undefined,
  ): Promise<FaultyProxy> {
    const counts = new Map<string, number>();
    return startFaultyProxy(registry.host, (req) => {
      const key = `${req.method} ${req.path}`;
      const nth = (counts.get(key) ?? 0) + 1;
      counts.set(key, nth);
      return decide(req, nth);
    });
  }

  const isLayer = (req: ProxiedRequest): boolean =>
    req.method === 'GET' && req.path.endsWith(`/blobs/${layer}`);

  it('resumes a blob with Range after the connection drops mid-body', async () => {
    const proxy = await proxyWith((req, nth) =>
      isLayer(req) && nth === 1 ? { kind: 'drop-after', bytes: 300_000 } : undefined,
    );
    const t = await tempStore();
    try {
      const result = await new RegistryClient(fast).pull(`${proxy.host}/library/busybox:latest`, {
        platform: amd64,
        store: t.store,
      });
      assert.deepEqual(
        result.layers.map((l) => l.digest),
        [layer],
      );
      assert.equal((await t.store.info(layer)).size, pushed.layout.images.amd64.layer.size);
      const gets = proxy.seen.filter((l) => l.startsWith(`GET /v2/library/busybox/blobs/${layer}`));
      assert.equal(gets.length, 2);
      assert.match(gets[1]!, /bytes=(\d+)-$/);
      assert.ok(Number(/bytes=(\d+)-/.exec(gets[1]!)![1]) > 0);
    } finally {
      await t.cleanup();
      await proxy.stop();
    }
  });

  it('resumes after a body goes silent past the idle timeout', async () => {
    const proxy = await proxyWith((req, nth) =>
      isLayer(req) && nth === 1 ? { kind: 'stall-after', bytes: 200_000 } : undefined,
    );
    const t = await tempStore();
    try {
      const client = new RegistryClient({ ...fast, timeouts: { idleMs: 300 } });
      await client.pull(`${proxy.host}/library/busybox:latest`, { platform: amd64, store: t.store });
      assert.equal((await t.store.info(layer)).digest, layer);
      assert.match(proxy.seen.filter((l) => l.includes(layer)).at(-1)!, /bytes=\d+-$/);
    } finally {
      await t.cleanup();
      await proxy.stop();
    }
  });

  it('leaves nothing partial when a pull is aborted mid-blob, and the next pull completes', async () => {
    const t = await tempStore();
    const client = new RegistryClient(fast);
    try {
      const controller = new AbortController();
      await assert.rejects(
        client.pull(pushed.ref, {
          platform: amd64,
          store: t.store,
          signal: controller.signal,
          onProgress: (p) => {
            if (p.status === 'downloading' && p.offset > 100_000)
              controller.abort(new Error('user cancelled'));
          },
        }),
        /user cancelled/,
      );
      await assert.rejects(t.store.info(layer), { code: 'KILN_CONTENT_NOT_FOUND' });
      assert.deepEqual(await t.ingestDebris(), []);
      const result = await client.pull(pushed.ref, { platform: amd64, store: t.store });
      assert.equal(result.layers[0]?.digest, layer);
      assert.equal((await t.store.info(layer)).size, pushed.layout.images.amd64.layer.size);
    } finally {
      await t.cleanup();
    }
  });

  it('refuses a blob whose bytes do not match its digest and keeps nothing', async () => {
    const { config } = pushed.layout.images.amd64;
    const proxy = await proxyWith((req) =>
      req.path.endsWith(`/blobs/${config.digest}`)
        ? { kind: 'replace', body: Buffer.alloc(config.size, 0x20) }
        : undefined,
    );
    const t = await tempStore();
    try {
      await assert.rejects(
        new RegistryClient(fast).pull(`${proxy.host}/library/busybox:latest`, {
          platform: amd64,
          store: t.store,
        }),
        {
          code: 'KILN_REGISTRY_CONTENT_MISMATCH',
          kind: 'failed-precondition',
          message: /arrived with digest/,
        },
      );
      await assert.rejects(t.store.info(config.digest), { code: 'KILN_CONTENT_NOT_FOUND' });
      await assert.rejects(t.store.info(layer), { code: 'KILN_CONTENT_NOT_FOUND' });
      assert.deepEqual(await t.ingestDebris(), []);
    } finally {
      await t.cleanup();
      await proxy.stop();
    }
  });

  it('retries 503 and 429 with back-off, then gives up with an unavailable error', async () => {
    const proxy = await proxyWith((req, nth) => {
      if (req.path.endsWith('/manifests/latest') && nth <= 2) return { kind: 'status', status: 503 };
      if (isLayer(req) && nth === 1) return { kind: 'status', status: 429, headers: { 'Retry-After': '0' } };
      if (req.path.endsWith('/manifests/gone')) return { kind: 'status', status: 502 };
      return undefined;
    });
    const t = await tempStore();
    try {
      const client = new RegistryClient(fast);
      await client.pull(`${proxy.host}/library/busybox:latest`, { platform: amd64, store: t.store });
      assert.equal(
        proxy.seen.filter((l) => l.startsWith('GET /v2/library/busybox/manifests/latest')).length,
        3,
      );
      assert.equal(
        proxy.seen.filter((l) => l.startsWith(`GET /v2/library/busybox/blobs/${layer}`)).length,
        2,
      );
      await assert.rejects(client.resolve(`${proxy.host}/library/busybox:gone`), {
        kind: 'unavailable',
        code: 'KILN_REGISTRY_UNAVAILABLE',
        message: new RegExp(
          `^resolve ${proxy.host}/library/busybox: 502 Bad Gateway from http://${proxy.host}/v2/library/busybox/manifests/gone: manifest gone: injected 502`,
        ),
      });
      assert.equal(
        proxy.seen.filter((l) => l.startsWith('GET /v2/library/busybox/manifests/gone')).length,
        3,
      );
    } finally {
      await t.cleanup();
      await proxy.stop();
    }
  });

  it('times out a registry that never answers', async () => {
    const proxy = await proxyWith((req) =>
      req.path.endsWith('/manifests/latest') ? { kind: 'stall' } : undefined,
    );
    try {
      const client = new RegistryClient({
        ...fast,
        retry: { attempts: 2, baseDelayMs: 10 },
        timeouts: { requestMs: 200 },
      });
      const started = Date.now();
      await assert.rejects(client.resolve(`${proxy.host}/library/busybox:latest`), {
        kind: 'unavailable',
        message: /no response within 200 ms/,
      });
      assert.ok(Date.now() - started < 5000);
      assert.equal(proxy.seen.length, 2);
    } finally {
      await proxy.stop();
    }
  });

  it('fails at once for a host DNS says does not exist, without backing off', async () => {
    // A back-off of a minute: a single retry would outlast the test's bound.
    const client = new RegistryClient({ retry: { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 } });
    const started = Date.now();
    await assert.rejects(client.resolve('no-such-registry.invalid/library/busybox:latest'), {
      kind: 'unavailable',
      message: /ENOTFOUND/,
    });
    assert.ok(Date.now() - started < 30_000, 'it did not wait for a retry');
  });

  it('pulls through a mirror, skips a dead one, and never pushes to mirrors', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const origin = `127.0.0.1:${await closedPort()}`;
    const t = await tempStore();
    try {
      const client = new RegistryClient({ ...fast, hosts: { [origin]: { mirrors: [dead, registry.host] } } });
      const result = await client.pull(`${origin}/library/busybox:latest`, {
        platform: amd64,
        store: t.store,
      });
      assert.equal(result.reference.digest, pushed.indexDigest);
      assert.equal(result.layers[0]?.digest, layer);
      await assert.rejects(
        client.pushManifest(
          `${origin}/library/busybox:x`,
          result.manifest.descriptor.mediaType,
          result.manifest.bytes,
        ),
        { kind: 'unavailable', message: new RegExp(`^push ${origin}/library/busybox: `) },
      );
    } finally {
      await t.cleanup();
    }
  });
});

describe('token lifetimes', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  before(async () => {
    registry = await startRegistry({ auth: 'token', tokenExpiresIn: 2 });
    pushed = await pushBusyboxIndex(registry);
  });
  after(() => registry?.stop());

  it('reuses a token until shortly before it expires, then asks for a new one', async () => {
    const client = new RegistryClient({
      credentials: async () => ({ username: 'kiln', secret: registry.password! }),
    });
    const tokens = (): number => registry.tokenServer!.requests().length;
    const start = tokens();
    await client.resolve(pushed.ref, { mode: 'pull' });
    await client.resolve(pushed.ref, { mode: 'pull' });
    assert.equal(tokens() - start, 1);
    await new Promise((r) => setTimeout(r, 2000));
    await client.resolve(pushed.ref, { mode: 'pull' });
    assert.equal(tokens() - start, 2);
  });

  it('re-authenticates once when the registry rejects a token it just got', async () => {
    const token = registry.tokenServer!;
    let rejected = 0;
    const proxy = await startFaultyProxy(registry.host, (req) => {
      if (
        !req.authorization?.startsWith('Bearer ') ||
        !req.path.endsWith('/manifests/latest') ||
        rejected > 0
      ) {
        return undefined;
      }
      rejected++;
      return {
        kind: 'status',
        status: 401,
        headers: { 'WWW-Authenticate': `Bearer realm="${token.realm}",service="${token.service}"` },
      };
    });
    try {
      const client = new RegistryClient({
        credentials: async () => ({ username: 'kiln', secret: registry.password! }),
      });
      const start = token.requests().length;
      const resolved = await client.resolve(`${proxy.host}/library/busybox:latest`);
      assert.equal(resolved.descriptor.digest, pushed.indexDigest);
      assert.equal(rejected, 1);
      assert.equal(token.requests().length - start, 2);
    } finally {
      await proxy.stop();
    }
  });

  it('exchanges an identity token at the token server', async () => {
    const client = new RegistryClient({
      credentials: async () => ({ username: '', secret: registry.tokenServer!.refreshToken }),
    });
    const resolved = await client.resolve(pushed.ref);
    assert.equal(resolved.descriptor.digest, pushed.indexDigest);
    assert.equal(registry.tokenServer!.requests().at(-1)?.account, 'kiln');
  });
});
