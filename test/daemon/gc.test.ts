import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

const sh = promisify(execFile);
const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

/** `du -sb` of `path`, walked again when collection removes a file while `du` walks it. */
async function diskUse(path: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { stdout } = await sh('du', ['-sb', path]);
      return Number.parseInt(stdout, 10);
    } catch (err) {
      const vanished = /No such file or directory/.test((err as { stderr?: string }).stderr ?? '');
      if (!vanished || attempt === 20) throw err;
      await sleep(50);
    }
  }
}

/**
 * The daemon root's disk use once it is at most `limit`, polled for up to `withinMs` (collection
 * runs after each build and only ever lowers it); the last figure when it never gets there.
 */
async function diskUseSettling(path: string, limit: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const used = await diskUse(path);
    if (used <= limit || Date.now() >= deadline) return used;
    await sleep(100);
  }
}

/** `Total:` of `buildctl du`, in bytes. */
function duTotal(stdout: string): number {
  const m = /Total:\s+([\d.]+)\s*([kMG]?B)/.exec(stdout);
  assert.ok(m, stdout);
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

describe('garbage collection under a disk budget', { skip }, () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let dir: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    dir = await mkdtemp(join(tmpdir(), 'kiln-gc-'));
    const config = join(dir, 'kilnd.toml');
    // Collect right after each build, so the budget holds between builds too.
    await writeFile(config, '[worker.oci]\ngckeepstorage = "200MB"\ngcDelay = "0s"\n');
    daemon = await startKilnd({ args: ['--config', config] });
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps 20 builds of 50 MB each under a 200 MB budget, and du agrees with the disk', async () => {
    const base = image(`${registry.host}/library/busybox:latest`);
    const budget = 200e6;
    for (let i = 0; i < 20; i++) {
      const state = base.run({ shell: `head -c 50000000 /dev/urandom > /data-${i}-${Date.now()}` }).root();
      const result = await buildctl(daemon.address, ['build'], toBinary(DefinitionSchema, marshal(state)));
      assert.equal(result.code, 0, result.stderr);
      // One build's worth of slack: collection runs after each build, not during it.
      const used = await diskUseSettling(daemon.root, budget + 55e6, 1500);
      assert.ok(used <= budget + 55e6, `after build ${i}: ${used} bytes in ${daemon.root}`);
    }
    // Settled, so that `du` below sees the same disk.
    await sleep(2000);
    const used = await diskUse(daemon.root);
    assert.ok(used <= budget, `${used} bytes used, budget ${budget}`);
    const { stdout } = await buildctl(daemon.address, ['du']);
    const reported = duTotal(stdout);
    assert.ok(Math.abs(reported - used) / used < 0.05, `buildctl du says ${reported}, du says ${used}`);
  });
});
