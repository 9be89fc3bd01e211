import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parsePlatform, sha256, type Descriptor } from '../../oci/index.js';
import { RegistryClient, type HostSettings } from '../../registry/index.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { tempStore } from './harness.js';

describe('per-host TLS settings against an HTTPS registry with a self-signed certificate', () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  before(async () => {
    registry = await startRegistry({ auth: 'none', tls: true });
    pushed = await pushBusyboxIndex(registry);
  });
  after(() => registry?.stop());

  async function pullWith(settings: HostSettings): Promise<string> {
    const t = await tempStore();
    const client = new RegistryClient({
      hosts: { [registry.host]: settings },
      retry: { attempts: 1 },
    });
    try {
      const result = await client.pull(pushed.ref, {
        platform: parsePlatform('linux/amd64'),
        store: t.store,
      });
      return result.manifest.descriptor.digest;
    } finally {
      await client.close();
      await t.cleanup();
    }
  }

  it('refuses the unverified certificate by default', async () => {
    await assert.rejects(pullWith({ http: false }), {
      kind: 'unavailable',
      message: new RegExp(
        `^pull ${registry.host}/library/busybox: https://${registry.host}/v2/.*SELF_SIGNED`,
      ),
    });
  });

  it('pulls with insecure (no verification) and with the certificate as a CA', async () => {
    assert.equal(await pullWith({ http: false, insecure: true }), pushed.manifests.amd64);
    assert.equal(await pullWith({ http: false, ca: [registry.certificate!] }), pushed.manifests.amd64);
  });

  it('with http and insecure, falls from plain HTTP to HTTPS', async () => {
    assert.equal(await pullWith({ http: true, insecure: true }), pushed.manifests.amd64);
  });

  it('uploads blobs (streamed, one PUT and chunked) with insecure and with the CA, never unverified', async () => {
    const blobs = [randomBytes(200 * 1024), randomBytes(3 * 1024 * 1024)].map((bytes) => ({
      bytes,
      descriptor: {
        mediaType: 'application/octet-stream',
        digest: sha256(bytes),
        size: bytes.length,
      } as Descriptor,
    }));
    const pushWith = async (settings: HostSettings, repo: string) => {
      const client = new RegistryClient({ hosts: { [registry.host]: settings }, retry: { attempts: 1 } });
      try {
        const results = [];
        for (const { bytes, descriptor } of blobs) {
          const open = (offset: number) => Readable.from([bytes.subarray(offset)]);
          results.push(await client.pushBlob(`${registry.host}/${repo}`, descriptor, open));
          results.push(await client.pushBlob(`${registry.host}/${repo}`, descriptor, open));
        }
        return results;
      } finally {
        await client.close();
      }
    };
    await assert.rejects(pushWith({ http: false }, 'tls/default'), {
      kind: 'unavailable',
      message: /SELF_SIGNED/,
    });
    const expected = ['uploaded', 'exists', 'uploaded', 'exists'];
    assert.deepEqual(await pushWith({ http: false, insecure: true }, 'tls/insecure'), expected);
    assert.deepEqual(await pushWith({ http: false, ca: [registry.certificate!] }, 'tls/ca'), expected);
  });
});
