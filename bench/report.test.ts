import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderSummary, summarizeBench, type Measurement, type Workload } from './index.js';

const workload: Workload = {
  name: 'w',
  title: 'test',
  baselineName: 'cp -a',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 0.9, note: '' },
    { phase: 'copy', versus: 'baseline', max: 1.5, note: '' },
    { phase: 'export', versus: 'absolute-ms', max: 1000, note: '' },
  ],
  run: async () => {},
};

function m(
  subject: Measurement['subject'],
  phase: string,
  rep: number,
  ms: number,
  peakRss?: number,
): Measurement {
  return { workload: 'w', subject, phase, rep, ms, load: 1, ...(peakRss ? { peakRss } : {}) };
}

describe('summarizeBench', () => {
  const measurements: Measurement[] = [
    m('kiln', 'cold', 0, 800, 100),
    m('kiln', 'cold', 1, 900, 300),
    m('kiln', 'cold', 2, 1000, 200),
    m('buildkit', 'cold', 0, 1000, 50),
    m('buildkit', 'cold', 1, 1000, 50),
    m('kiln', 'copy', 0, 400),
    m('baseline', 'copy', 0, 200),
    m('kiln', 'export', 0, 1200),
    { workload: 'w', subject: 'kiln', phase: 'idle', rep: 0, rss: 60, load: 1 },
    {
      workload: 'w',
      subject: 'kiln',
      phase: 'error',
      rep: 3,
      load: 1,
      error: 'buildctl build exited with 1\nmore',
    },
    { workload: 'other', subject: 'kiln', phase: 'cold', rep: 0, ms: 1, load: 1 },
  ];
  const summary = summarizeBench([workload], measurements);

  it('compares medians and judges each target', () => {
    const cold = summary.phases.find((p) => p.phase === 'cold')!;
    assert.equal(cold.ms.kiln?.median, 900);
    assert.equal(cold.vsBuildkit, 0.9);
    assert.equal(cold.verdict, 'met');
    const copy = summary.phases.find((p) => p.phase === 'copy')!;
    assert.equal(copy.vsBaseline, 2);
    assert.equal(copy.verdict, 'missed');
    assert.equal(summary.phases.find((p) => p.phase === 'export')?.verdict, 'missed');
  });

  it('takes the largest phase peak of each repetition for memory, and lists failures', () => {
    assert.deepEqual(summary.memory[0]?.peak.kiln?.median, 200);
    assert.equal(summary.memory[0]?.idle.kiln?.median, 60);
    assert.deepEqual(summary.failures, [
      { workload: 'w', subject: 'kiln', phase: 'error', count: 1, message: 'buildctl build exited with 1' },
    ]);
  });

  it('renders Markdown tables with the baseline tool named', () => {
    const text = renderSummary(summary, new Map([['w', 'cp -a']]));
    assert.match(text, /\| w \| cold \| 0\.90 s \(0\.80–1\.00\) \| 1\.00 s \(1\.00–1\.00\) \| 0\.90× \|/);
    assert.match(text, /cp -a 0\.20 s/);
    assert.match(text, /≤ 0\.9× BK: met/);
    assert.match(text, /Failures:/);
  });
});
