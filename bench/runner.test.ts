import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image } from '../llb/index.js';
import { pushBusyboxIndex } from '../test/fixtures/busybox-image.js';
import { buildctlPath } from '../test/fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../test/fixtures/registry.js';
import { runBench, startDaemon, type BenchEnvironment, type EngineSpec, type Workload } from './index.js';

const buildctl = buildctlPath();
const kilnMain = join(import.meta.dirname, '..', 'daemon', 'main.js');
const buildkitd = existsSync('/tmp/bk/buildkitd') ? '/tmp/bk/buildkitd' : undefined;

/** One RUN step from cold, then again (cached), with a figure recorded from the trace. */
const tiny: Workload = {
  name: 'tiny',
  title: 'one step',
  async run(ctx) {
    const spec = { llb: image(ctx.env.pinnedBaseRef).run({ shell: 'echo tiny > /t' }).root() };
    await ctx.phase('cold', async () => {
      const result = await ctx.build(spec, [], { trace: true });
      ctx.record('step', result.vertexMs.get('/bin/sh -c echo tiny > /t') ?? -1);
      return result;
    });
    await ctx.phase('warm', () => ctx.build(spec, [], { trace: true }));
  },
  async baseline(ctx) {
    await ctx.phase('cold', async () => 42);
  },
};

describe('runBench against real daemons', { skip: buildctl ? false : 'no buildctl' }, () => {
  let registry: TestRegistry;
  let env: BenchEnvironment;
  let workDir: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    const base = await pushBusyboxIndex(registry);
    workDir = await mkdtemp(join(tmpdir(), 'kiln-bench-test-'));
    env = {
      registryHost: registry.host,
      pushRegistryHost: registry.host,
      baseRef: base.ref,
      pinnedBaseRef: `${base.ref}@${base.indexDigest}`,
      quick: true,
      form: 'llb',
      inputsDir: join(workDir, 'inputs'),
      workDir,
      buildctl: buildctl!,
    };
  });

  after(async () => {
    await registry?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it('measures each engine on a fresh daemon, interleaved, with memory and the baseline', async () => {
    const engines: EngineSpec[] = [{ engine: 'kiln', binary: kilnMain }];
    if (buildkitd) engines.push({ engine: 'buildkit', binary: buildkitd });
    const lines: string[] = [];
    const out = await runBench({ workloads: [tiny], engines, env, runs: 2, progress: (l) => lines.push(l) });
    assert.deepEqual(
      out.filter((m) => m.error).map((m) => m.error),
      [],
    );
    for (const { engine } of engines) {
      const mine = out.filter((m) => m.subject === engine);
      assert.deepEqual(
        mine.filter((m) => m.rep === 0).map((m) => m.phase),
        ['idle', 'step', 'cold', 'warm', 'after'],
      );
      const cold = mine.find((m) => m.phase === 'cold')!;
      assert.ok(cold.ms! > 0 && cold.peakRss! > 10 * 2 ** 20, JSON.stringify(cold));
      assert.ok(cold.cpuMs! > 0, 'a cold build costs the daemon CPU time');
      const step = mine.find((m) => m.phase === 'step')!;
      assert.ok(step.ms! > 0 && step.ms! < cold.ms!, `step ${step.ms} within cold ${cold.ms}`);
      assert.ok(mine.find((m) => m.phase === 'idle')!.rss! > 10 * 2 ** 20);
    }
    assert.deepEqual(
      out.filter((m) => m.subject === 'baseline').map((m) => m.ms),
      [42, 42],
    );
    if (buildkitd) {
      // The second repetition starts with the other engine.
      const starts = out.filter((m) => m.phase === 'idle').map((m) => `${m.rep}:${m.subject}`);
      assert.deepEqual(starts, ['0:kiln', '0:buildkit', '1:buildkit', '1:kiln']);
    }
    assert.ok(
      lines.some((l) => /tiny #1 kiln: cold \d+ ms, cpu \d+ ms, peak \d+ MB/.test(l)),
      lines.join('\n'),
    );
  });

  it('stops a daemon and removes its state, mounts included', async () => {
    const daemon = await startDaemon({
      engine: 'kiln',
      binary: kilnMain,
      buildctl: buildctl!,
      registryHosts: [registry.host],
    });
    assert.ok(existsSync(daemon.root));
    await daemon.stop();
    assert.equal(existsSync(daemon.root), false);
    assert.throws(() => process.kill(daemon.pid, 0));
  });
});
