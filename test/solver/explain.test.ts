import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { ServiceClient } from '../../client/grpc-client.js';
import { copy, image, local, marshal } from '../../llb/index.js';
import { Insight } from '../../proto/gen/kiln/v1/insight_pb.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import type { BuildExplanation } from '../../solver/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

describe('explaining cache misses', { skip: buildctlPath() ? false : 'no buildctl' }, () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let work: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    daemon = await startKilnd();
    work = await mkdtemp(join(tmpdir(), 'kiln-explain-'));
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('names the changed file behind a COPY miss and the steps after it', async () => {
    const ctx = join(work, 'ctx');
    await mkdir(join(ctx, 'src'), { recursive: true });
    await writeFile(join(ctx, 'src', 'a.txt'), 'a\n');
    await writeFile(join(ctx, 'src', 'b.txt'), 'b\n');
    const base = image(`${registry.host}/library/busybox:latest`);
    const copied = base.file(
      copy(local('ctx'), '/src', '/app', { copyDirContentsOnly: true, createDestPath: true }),
      {
        customName: '[2/3] COPY src /app',
      },
    );
    const built = copied.run({ shell: 'cat /app/* > /all', customName: '[3/3] RUN cat /app/*' }).root();
    const def = toBinary(DefinitionSchema, marshal(built));
    const build = () => buildctl(daemon.address, ['build', '--local', `ctx=${ctx}`], def);
    assert.equal((await build()).code, 0);
    await writeFile(join(ctx, 'src', 'b.txt'), 'b changed\n');
    assert.equal((await build()).code, 0);

    const insight = new ServiceClient(Insight, daemon.address);
    try {
      const { json } = await insight.unary('explain', {});
      const explanation = JSON.parse(json) as BuildExplanation;
      assert.ok(explanation.previous, 'compared with the first build');
      const copyStep = explanation.steps.find((s) => s.name === '[2/3] COPY src /app')!;
      assert.equal(copyStep.reason?.kind, 'files-changed');
      assert.deepEqual(copyStep.reason?.kind === 'files-changed' && copyStep.reason.changed, ['src/b.txt']);
      const runStep = explanation.steps.find((s) => s.name === '[3/3] RUN cat /app/*')!;
      assert.deepEqual(runStep.reason, { kind: 'parent-changed', parent: '[2/3] COPY src /app' });
      assert.ok(explanation.criticalPath.length >= 2);
      assert.equal(explanation.criticalPath.at(-1)!.name, '[3/3] RUN cat /app/*');
    } finally {
      insight.close();
    }
  });
});
