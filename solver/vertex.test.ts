import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { LlbOpView } from './llb-view.js';
import type { ProgressEvent, StatusRecord } from './progress.js';
import { SharedVertex } from './vertex.js';

function vertexWithSink(): { vertex: SharedVertex; statuses: () => StatusRecord[] } {
  const view = {
    digest: 'sha256:v',
    inputDigests: [],
    name: 'v',
    ignoreCache: false,
  } as unknown as LlbOpView;
  const vertex = new SharedVertex('sha256:v', view);
  const events: ProgressEvent[] = [];
  vertex.attach({ progress: { write: (e) => events.push(e) } });
  const statuses = () => events.flatMap((e) => (e.type === 'status' ? [e.status] : []));
  return { vertex, statuses };
}

const started = new Date();

describe('vertex status reports', () => {
  it('sends a burst of updates of one status as the first and, after the interval, the latest', async () => {
    const { vertex, statuses } = vertexWithSink();
    for (let i = 1; i <= 1000; i++) vertex.status({ id: 'x', name: 'x', current: i, total: 0, started });
    assert.deepEqual(
      statuses().map((s) => s.current),
      [1],
    );
    await sleep(150);
    assert.deepEqual(
      statuses().map((s) => s.current),
      [1, 1000],
    );
  });

  it('sends a finished status at once, and nothing held back after it', async () => {
    const { vertex, statuses } = vertexWithSink();
    vertex.status({ id: 'x', name: 'x', current: 1, total: 0, started });
    vertex.status({ id: 'x', name: 'x', current: 2, total: 0, started });
    vertex.status({ id: 'x', name: 'x', current: 3, total: 0, started, completed: new Date() });
    await sleep(150);
    assert.deepEqual(
      statuses().map((s) => [s.current, s.completed !== undefined]),
      [
        [1, false],
        [3, true],
      ],
    );
  });

  it('sends held statuses before the vertex record that ends it', () => {
    const { vertex } = vertexWithSink();
    const order: string[] = [];
    vertex.attach({
      progress: {
        write: (e) => order.push(e.type === 'status' ? `status ${e.status.current}` : e.type),
      },
    });
    order.length = 0;
    vertex.status({ id: 'x', name: 'x', current: 1, total: 0, started });
    vertex.status({ id: 'x', name: 'x', current: 2, total: 0, started });
    vertex.transition({ kind: 'failed', completed: new Date(), error: new Error('stop') });
    assert.deepEqual(order, ['status 1', 'status 2', 'vertex']);
  });

  it('keeps statuses with different ids apart', () => {
    const { vertex, statuses } = vertexWithSink();
    vertex.status({ id: 'a', name: 'a', current: 1, total: 0, started });
    vertex.status({ id: 'b', name: 'b', current: 1, total: 0, started });
    assert.deepEqual(
      statuses().map((s) => s.id),
      ['a', 'b'],
    );
  });
});

describe('vertex outcomes', () => {
  it('tells each subscriber the outcome once settled, and a late subscriber at once', () => {
    const { vertex } = vertexWithSink();
    const heard: string[] = [];
    const subscriber = (name: string) => ({
      progress: { write: () => undefined },
      settled: (digest: string, outcome: { refs: ReadonlyArray<{ snapshot: string | undefined }> }) =>
        heard.push(`${name} ${digest} ${outcome.refs[0]?.snapshot}`),
    });
    vertex.attach(subscriber('early'));
    vertex.transition({ kind: 'running', started });
    assert.deepEqual(heard, []);
    const outcome = { keys: ['k'], refs: [{ snapshot: 'snap' }] };
    vertex.transition({ kind: 'done', started, completed: new Date(), outcome });
    vertex.attach(subscriber('late'));
    assert.deepEqual(heard, ['early sha256:v snap', 'late sha256:v snap']);
  });
});
