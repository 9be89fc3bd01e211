import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { freePort } from '../fixtures/free-port.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

describe('kilnd shutdown and crash recovery', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let base: State;
  const def = (state: State) => toBinary(DefinitionSchema, marshal(state));

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    base = image(`${registry.host}/library/busybox:latest`);
    work = await mkdtemp(join(tmpdir(), 'kiln-lifecycle-'));
  });

  after(async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('finishes a running build on SIGTERM, answers the client, refuses new builds, reports draining and exits 0', async () => {
    const port = await freePort();
    const daemon: KilndProcess = await startKilnd({ args: ['--debugaddr', `127.0.0.1:${port}`] });
    const readyz = () =>
      fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
    try {
      for (let i = 0; (await readyz()) !== 200; i++) {
        assert.ok(i < 200, `the debug server never became ready:\n${daemon.logs()}`);
        await sleep(25);
      }
      const out = join(work, 'drain');
      const running = buildctl(
        daemon.address,
        ['build', '--output', `type=local,dest=${out}`],
        def(base.run({ shell: `sleep 2; echo drained ${Date.now()} > /result` }).root()),
      );
      await sleep(1000);
      const exited = daemon.stop('SIGTERM');
      await sleep(200);
      assert.equal(await readyz(), 503, 'readiness says draining while the build finishes');
      const late = await buildctl(daemon.address, ['build'], def(base.run({ shell: 'echo late' }).root()));
      assert.notEqual(late.code, 0);
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      assert.match(await readFile(join(out, 'result'), 'utf8'), /^drained/);
      assert.equal(await exited, 0);
    } finally {
      await daemon.dispose();
    }
  });

  it('recovers after SIGKILL mid-build: du works, the next build succeeds and reuses valid cache', async () => {
    let daemon: KilndProcess = await startKilnd();
    const root = daemon.root;
    try {
      const marker = Date.now();
      const first = base.run({ shell: `echo first ${marker} > /first` }).root();
      assert.equal((await buildctl(daemon.address, ['build'], def(first))).code, 0);
      const killed = buildctl(daemon.address, ['build'], def(first.run({ shell: 'sleep 30' }).root()));
      await sleep(1500);
      await daemon.stop('SIGKILL');
      assert.notEqual((await killed).code, 0, 'the client sees the daemon go away');
      daemon = await startKilnd({ root });
      const du = await buildctl(daemon.address, ['du']);
      assert.equal(du.code, 0, du.stderr);
      const again = await buildctl(
        daemon.address,
        ['build', '--progress', 'plain'],
        def(first.run({ shell: 'echo after' }).root()),
      );
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, new RegExp(`echo first ${marker} > /first\\n#\\d+ CACHED`));
    } finally {
      await daemon.dispose();
    }
  });
});
