import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { freePort } from '../fixtures/free-port.js';

describe('metrics on the debug address', { skip: buildctlPath() ? false : 'no buildctl' }, () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let url: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    daemon = await startKilnd({ args: ['--debugaddr', `127.0.0.1:${port}`] });
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
  });

  it('counts builds, steps, cache hits, bytes and disk usage', async () => {
    const state = image(`${registry.host}/library/busybox:latest`)
      .run({ shell: `echo ${Date.now()}` })
      .root();
    const def = toBinary(DefinitionSchema, marshal(state));
    for (let i = 0; i < 2; i++) assert.equal((await buildctl(daemon.address, ['build'], def)).code, 0);
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (pattern: string) => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(value('kiln_builds_total\\{result="succeeded"\\}'), 2);
    assert.equal(value('kiln_vertices_total\\{state="done"\\}'), 2);
    assert.equal(value('kiln_vertices_total\\{state="cached"\\}'), 2);
    assert.equal(value('kiln_cache_hit_ratio'), 0.5);
    assert.ok(value('kiln_bytes_total\\{kind="pulled"\\}') > 1_000_000);
    assert.ok(value('kiln_disk_usage_bytes\\{type="regular"\\}') > 0);
    assert.equal(value('kiln_build_duration_seconds_count'), 2);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);

    // A push uploads the new layer and the config (busybox's layer is mounted, not counted).
    const push = await buildctl(
      daemon.address,
      ['build', '--output', `type=image,name=${registry.host}/metrics/pushed:latest,push=true`],
      def,
    );
    assert.equal(push.code, 0, push.stderr);
    const after = await (await fetch(`${url}/metrics`)).text();
    const pushed = Number(/^kiln_bytes_total\{kind="pushed"\} (\S+)$/m.exec(after)?.[1]);
    assert.ok(pushed > 0 && pushed < 1_000_000, `pushed ${pushed} bytes`);
  });
});
