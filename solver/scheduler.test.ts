import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import Database from 'better-sqlite3';
import { sha256 } from '../oci/index.js';
import { OpSchema, type Op } from '../proto/gen/pb/ops_pb.js';
import { CacheStore } from './cache-store.js';
import { JobProgress } from './job-progress.js';
import { toOpView, type LlbOpView } from './llb-view.js';
import type { RemoteCache, RemoteStep, SolverOp } from './op.js';
import type { ProgressEvent } from './progress.js';
import { Scheduler, type SchedulerJob, type SolverGraph } from './scheduler.js';

/** A synthetic exec op: sleeps, counts its runs; its output is a fake snapshot name. */
function node(name: string, inputs: string[], ms = 0): { digest: string; view: LlbOpView } {
  const op = create(OpSchema, {
    inputs: inputs.map((digest) => ({ digest, index: 0n })),
    op: { case: 'exec', value: { meta: { args: ['sleep', String(ms), name] } } },
  });
  const digest = sha256(toBinary(OpSchema, op));
  return { digest, view: toOpView(digest, op, { description: { 'llb.customname': name } } as never) };
}

function graphOf(...nodes: Array<{ digest: string; view: LlbOpView }>): SolverGraph {
  return { ops: new Map(nodes.map((n) => [n.digest, n.view])) };
}

function harness(maxParallelism?: number) {
  const runs = new Map<string, number>();
  const cache = new CacheStore({ db: new Database(':memory:') });
  const scheduler = new Scheduler({
    cache,
    checksums: { checksum: async () => 'sha256:none' },
    defaultPlatform: { os: 'linux', architecture: 'amd64' },
    ...(maxParallelism ? { maxParallelism } : {}),
    ops: (view): SolverOp => ({
      outputs: 1,
      recordType: 'regular',
      cacheMap: async () => ({
        digest: view.digest,
        deps: view.op.inputs.map(() => ({ contentBased: false, selectors: [] })),
      }),
      exec: async (ctx) => {
        const op: Op = view.op;
        const args = op.op.case === 'exec' ? (op.op.value.meta?.args ?? []) : [];
        runs.set(view.name, (runs.get(view.name) ?? 0) + 1);
        // No timer for 0 ms: a timer per step made the 20,000-deep chain take half a minute.
        const ms = Number(args[1]);
        if (ms > 0) await sleep(ms, undefined, { signal: ctx.signal });
        if (view.name.startsWith('fail')) throw new Error(`${view.name} failed`);
        return [{ snapshot: `snap-${view.name}` }];
      },
    }),
  });
  const job = (
    ref: string,
    signal = new AbortController().signal,
  ): SchedulerJob & { progress: JobProgress } => ({
    ref,
    progress: new JobProgress(),
    signal,
    sessionIds: [],
    entitlements: new Set(),
  });
  return { scheduler, runs, job };
}

describe('Scheduler', () => {
  it('runs independent vertices in parallel and skips unreachable ones', async () => {
    const { scheduler, runs, job } = harness();
    const a = node('a', [], 300);
    const b = node('b', [], 300);
    const unused = node('unused', [], 5000);
    const join = node('join', [a.digest, b.digest]);
    const started = Date.now();
    const { ref } = await scheduler.build(
      graphOf(a, b, unused, join),
      { digest: join.digest, index: 0 },
      job('j1'),
    );
    assert.ok(Date.now() - started < 550, `took ${Date.now() - started} ms`);
    assert.equal(ref.snapshot, 'snap-join');
    assert.equal(runs.get('unused'), undefined);
  });

  it('runs a vertex shared by two concurrent builds once, and both see it', async () => {
    const { scheduler, runs, job } = harness();
    const a = node('shared', [], 200);
    const top = node('top', [a.digest]);
    const g = graphOf(a, top);
    const j1 = job('j1');
    const j2 = job('j2');
    await Promise.all([
      scheduler.build(g, { digest: top.digest, index: 0 }, j1),
      scheduler.build(g, { digest: top.digest, index: 0 }, j2),
    ]);
    assert.equal(runs.get('shared'), 1);
    assert.equal(runs.get('top'), 1);
    for (const j of [j1, j2]) {
      j.progress.end();
      const events: ProgressEvent[] = [];
      for await (const batch of j.progress.read()) events.push(...batch);
      const done = events.filter(
        (e) => e.type === 'vertex' && e.vertex.name === 'shared' && e.vertex.completed,
      );
      assert.ok(done.length > 0, 'each job sees the shared vertex complete');
    }
  });

  it('hits the cache on a rebuild and honours ignore_cache', async () => {
    const { scheduler, runs, job } = harness();
    const a = node('a', [], 10);
    const b = node('b', [a.digest], 10);
    const g = graphOf(a, b);
    const j1 = job('j1');
    await scheduler.build(g, { digest: b.digest, index: 0 }, j1);
    scheduler.release(j1);
    const j2 = job('j2');
    await scheduler.build(g, { digest: b.digest, index: 0 }, j2);
    scheduler.release(j2);
    assert.equal(runs.get('a'), 1);
    assert.equal(runs.get('b'), 1);
    const noCache = { ...b, view: { ...b.view, ignoreCache: true } };
    const j3 = job('j3');
    await scheduler.build(graphOf(a, noCache), { digest: b.digest, index: 0 }, j3);
    assert.equal(runs.get('b'), 2);
    assert.equal(runs.get('a'), 1);
  });

  it('caps parallelism', async () => {
    const { scheduler, job } = harness(1);
    const a = node('a', [], 150);
    const b = node('b', [], 150);
    const join = node('join', [a.digest, b.digest]);
    const started = Date.now();
    await scheduler.build(graphOf(a, b, join), { digest: join.digest, index: 0 }, job('j1'));
    assert.ok(Date.now() - started >= 290);
  });

  it('fails dependents with the failing step and cancels on abort', async () => {
    const { scheduler, job } = harness();
    const bad = node('fail-here', [], 10);
    const top = node('top', [bad.digest]);
    const j1 = job('j1');
    await assert.rejects(
      scheduler.build(graphOf(bad, top), { digest: top.digest, index: 0 }, j1),
      (err: Error & { code?: string }) =>
        err.code === 'KILN_SOLVER_VERTEX_FAILED' && /fail-here failed/.test(err.message),
    );
    const slow = node('slow', [], 10_000);
    const controller = new AbortController();
    const j = job('j2', controller.signal);
    const pending = scheduler.build(graphOf(slow), { digest: slow.digest, index: 0 }, j);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, (err: Error & { kind?: string }) => err.kind === 'canceled');
    scheduler.release(j);
    scheduler.release(j1);
    assert.equal(scheduler.vertexCount, 0, 'vertices nobody wants are forgotten');
  });

  it('evaluates a 20,000-deep chain without overflowing the stack', async () => {
    const { scheduler, job } = harness();
    const nodes = [node('n0', [])];
    for (let i = 1; i < 20_000; i++) nodes.push(node(`n${i}`, [nodes[i - 1]!.digest]));
    const last = nodes[nodes.length - 1]!;
    const { ref } = await scheduler.build(graphOf(...nodes), { digest: last.digest, index: 0 }, job('deep'));
    assert.equal(ref.snapshot, 'snap-n19999');
  });

  it("gives remote caches the step (op, platform, output, inputs' steps) after a local miss", async () => {
    const { scheduler, runs, job } = harness();
    const a = node('remote-a', [], 10);
    const b = node('remote-b', [a.digest], 10);
    const seen: RemoteStep[] = [];
    const remote: RemoteCache = {
      lookup: async (_key, _signal, step) => {
        seen.push(step!);
        if (step?.op !== b.view.op) return undefined;
        return { layers: [], materialize: async () => 'snap-from-remote' };
      },
    };
    const { ref } = await scheduler.build(
      graphOf(a, b),
      { digest: b.digest, index: 0 },
      { ...job('remote'), remoteCaches: [remote] },
    );
    assert.equal(runs.get('remote-a'), 1, 'the miss runs');
    assert.equal(runs.get('remote-b'), undefined, 'the hit does not');
    assert.equal(ref.snapshot, undefined, 'and stays lazy');
    assert.equal(await ref.lazy?.materialize(new AbortController().signal), 'snap-from-remote');
    const step = seen.find((s) => s.op === b.view.op)!;
    assert.deepEqual(step.platform, { os: 'linux', architecture: 'amd64' });
    assert.equal(step.output, 0);
    assert.deepEqual(
      step.inputs().map((i) => [i.op, i.output]),
      [[a.view.op, 0]],
    );
  });
});
