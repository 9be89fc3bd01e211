// ContentClient against the content store a real buildctl v0.11.6 serves for
// `--import-cache type=local,src=DIR`, through the test-only daemon.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentClient, type Session } from './index.js';
import { startTestDaemon, type TestDaemon } from './test-daemon.js';

const BUILDCTL = '/tmp/bk/buildctl';
const skip = existsSync(BUILDCTL) ? false : `${BUILDCTL} not present`;

const sha = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ContentClient with a real buildctl', { skip }, () => {
  let work: string;
  let daemon: TestDaemon;
  let onSolve: (session: Session) => Promise<void> = async () => undefined;

  before(async () => {
    work = await fsp.mkdtemp(join(tmpdir(), 'kiln-content-client-'));
    daemon = await startTestDaemon({ frontendSolve: ({ session }) => onSolve(session) });
  });
  after(async () => {
    await daemon?.close();
    await fsp.rm(work, { recursive: true, force: true });
  });

  it('reads info and bytes (whole, from an offset, 3 MiB in chunks) and tells absent blobs apart', async () => {
    const store = join(work, 'cache');
    await fsp.mkdir(join(store, 'blobs', 'sha256'), { recursive: true });
    const big = randomBytes(3 << 20);
    const small = Buffer.from('{"schemaVersion":2,"manifests":[]}');
    for (const blob of [big, small])
      await fsp.writeFile(join(store, 'blobs', 'sha256', sha(blob).slice(7)), blob);
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: sha(small),
          size: small.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    };
    await fsp.writeFile(join(store, 'index.json'), JSON.stringify(index));
    await fsp.writeFile(join(store, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const dockerfile = join(work, 'df');
    await fsp.mkdir(dockerfile);
    await fsp.writeFile(join(dockerfile, 'Dockerfile'), 'FROM scratch\n');

    let checked = false;
    onSolve = async (session) => {
      const client = new ContentClient({ session, storeId: `local:${store}` });
      assert.equal((await client.info(sha(big))).size, big.length);
      assert.deepEqual(await readAll(client.reader(sha(small))), small);
      const whole = await readAll(client.reader(sha(big)));
      assert.equal(sha(whole), sha(big));
      assert.deepEqual(await readAll(client.reader(sha(big), { offset: 1000 })), big.subarray(1000));
      assert.equal(await client.has(sha(Buffer.from('absent'))), false);
      await assert.rejects(
        readAll(client.reader(sha(Buffer.from('absent')))),
        (e: Error & { kind?: string }) => e.kind === 'not-found',
      );
      const wrongStore = new ContentClient({ session, storeId: 'local:/nowhere' });
      await assert.rejects(wrongStore.info(sha(small)));
      checked = true;
    };
    await new Promise<void>((resolve, reject) =>
      execFile(
        BUILDCTL,
        [
          '--addr',
          daemon.address,
          'build',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${dockerfile}`,
          '--local',
          `dockerfile=${dockerfile}`,
          '--import-cache',
          `type=local,src=${store}`,
        ],
        (err, _out, stderr) => (err ? reject(new Error(stderr, { cause: err })) : resolve()),
      ),
    );
    assert.ok(checked, 'the frontend hook ran its checks');
  });
});
