import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ControlClient } from '../../client/control-client.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';

const run = promisify(execFile);

describe('kilnd process', () => {
  let daemon: KilndProcess;
  let client: ControlClient;

  before(async () => {
    daemon = await startKilnd();
    client = new ControlClient(daemon.address);
  });

  after(async () => {
    client.close();
    await daemon.dispose();
  });

  it('serves its socket with mode 0660', async () => {
    const info = await stat(daemon.socket);
    assert.ok(info.isSocket());
    assert.equal(info.mode & 0o777, 0o660);
  });

  it('lists one worker with the host platform first and a stable id', async () => {
    const { record } = await client.listWorkers();
    assert.equal(record.length, 1);
    const worker = record[0]!;
    assert.match(worker.ID, /^[a-z0-9]{25}$/);
    assert.equal(worker.platforms[0]?.OS, 'linux');
    assert.equal(worker.platforms[0]?.Architecture, process.arch === 'arm64' ? 'arm64' : 'amd64');
    assert.equal(worker.Labels['org.mobyproject.buildkit.worker.executor'], 'oci');
    for (const key of ['snapshotter', 'hostname', 'network']) {
      assert.ok(worker.Labels[`org.mobyproject.buildkit.worker.${key}`], `label ${key}`);
    }
  });

  it('offers linux/arm64 exactly when a working aarch64 handler is registered', async () => {
    const handler = await readFile('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8').catch(() => '');
    const platforms = (await client.listWorkers()).record[0]!.platforms.map(
      (p) => `${p.OS}/${p.Architecture}`,
    );
    assert.equal(platforms.includes('linux/arm64'), handler.startsWith('enabled'));
  });

  it('answers Info with its version and an empty DiskUsage', async () => {
    const info = await client.info();
    assert.match(info.buildkitVersion?.version ?? '', /^v\d+\.\d+\.\d+/);
    // Nothing built yet: nothing is listed (kiln's own database is not a record, as in buildkitd).
    assert.deepEqual((await client.diskUsage()).record, []);
  });

  it('ends the status of an unknown build with NotFound after the reference 6 s wait', async () => {
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const _ of client.status('nosuchbuild')) assert.fail('no status for an unknown build');
      })(),
      { code: 5, details: 'no such job nosuchbuild' },
    );
    assert.ok(Date.now() - started < 15_000);
  });

  it('answers NotFound for history of an unknown build', async () => {
    await assert.rejects(
      client.updateBuildHistory({ Ref: 'x', Pinned: true }),
      /no build history record for x/,
    );
  });

  it('refuses a second daemon on the same root', async () => {
    await assert.rejects(startKilnd({ root: daemon.root }), /already using root/);
  });

  it('keeps its worker id across restarts and removes its socket on SIGTERM', async () => {
    const first = (await client.listWorkers()).record[0]!.ID;
    const code = await daemon.stop('SIGTERM');
    assert.equal(code, 0);
    await assert.rejects(stat(daemon.socket), /ENOENT/);
    const again = await startKilnd({ root: daemon.root });
    const c2 = new ControlClient(again.address);
    try {
      assert.equal((await c2.listWorkers()).record[0]!.ID, first);
    } finally {
      c2.close();
      await again.dispose();
    }
  });
});

describe(
  'kilnd with a real buildctl',
  { skip: buildctlPath() ? false : 'no buildctl (set BUILDCTL)' },
  () => {
    let daemon: KilndProcess;
    const buildctl = (...args: string[]) => run(buildctlPath()!, ['--addr', daemon.address, ...args]);

    before(async () => {
      daemon = await startKilnd();
    });
    after(() => daemon.dispose());

    it('debug workers -v lists the host platform first', async () => {
      const { stdout } = await buildctl('debug', 'workers', '-v');
      assert.match(stdout, /Platforms:\s+linux\/amd64/);
    });

    it('debug info prints the version', async () => {
      const { stdout } = await buildctl('debug', 'info');
      assert.match(stdout, /BuildKit:\s+\S+ v\d/);
    });

    it('du prints a table with nothing reclaimable', async () => {
      const { stdout } = await buildctl('du');
      assert.match(stdout, /Reclaimable:\s+0B/);
    });
  },
);
