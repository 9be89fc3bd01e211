import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressDisplay, type SolveStatus } from './index.js';
import { readRecording, statusTime } from './testdata/replay.js';

/** Replays statuses into a plain display on a virtual clock, printing after every update. */
function replay(statuses: readonly SolveStatus[], mode = 'plain'): string {
  let out = '';
  let now = 0;
  const display = new ProgressDisplay({
    mode,
    output: { write: (t: string) => (out += t), isTTY: false },
    now: () => now,
    rateMs: 0,
  });
  for (const s of statuses) {
    now = Math.max(now, statusTime(s));
    display.update(s);
  }
  display.finish();
  return out;
}

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(t0 + ms);
const vertex = (digest: string, name: string, extra: Partial<SolveStatus['vertexes'][number]> = {}) => ({
  digest,
  inputs: [],
  name,
  cached: false,
  error: '',
  ...extra,
});
const status = (parts: Partial<SolveStatus>): SolveStatus => ({
  vertexes: [],
  statuses: [],
  logs: [],
  warnings: [],
  ...parts,
});
const log = (v: string, ms: number, text: string) => ({
  vertex: v,
  stream: 1,
  data: Buffer.from(text),
  timestamp: at(ms),
});

describe('plain progress from a recorded Dockerfile build (buildkitd v0.11.6)', () => {
  const out = replay(readRecording('dockerfile-build.jsonl'));
  const lines = out.trimEnd().split('\n');

  it('numbers steps #1… in the order they are first printed, each header once per block', () => {
    const headers = lines.filter((l, i) => /^#\d+ /.test(l) && (i === 0 || lines[i - 1] === ''));
    const numbers = [...new Set(headers.map((h) => Number(/^#(\d+)/.exec(h)![1])))];
    assert.deepEqual(
      numbers,
      numbers.map((_, i) => i + 1),
    );
    assert.ok(numbers.length >= 8, out);
  });

  it('ends every step with DONE <secs>s or CACHED', () => {
    const steps = new Set(lines.filter((l) => /^#[1-9]\d* /.test(l)).map((l) => /^#(\d+)/.exec(l)![1]));
    for (const n of steps) {
      assert.ok(
        lines.some((l) => l === `#${n} CACHED` || new RegExp(`^#${n} DONE \\d+\\.\\ds$`).test(l)),
        `step #${n} never finished:\n${out}`,
      );
    }
  });

  it('prints statuses with byte sizes and "done", and log lines with their offset in seconds', () => {
    assert.match(out, /^#\d+ transferring dockerfile: 227B( \d+\.\ds)? done$/m);
    assert.match(out, /^#\d+ \d+\.\d{3} building$/m);
    assert.match(out, /^#\d+ \d+\.\d{3} 11$/m);
    assert.match(out, /^#\d+ exporting to client directory$/m);
  });

  it('separates blocks with one blank line and prints no error summary', () => {
    assert.ok(!out.includes('\n\n\n'));
    assert.ok(!out.includes('------'));
  });
});

describe('plain progress from a recorded failing build', () => {
  const out = replay(readRecording('failing-build.jsonl'));

  it('reports the failing step with ERROR and repeats its last ten log lines in the summary', () => {
    assert.match(out, /^#\d+ ERROR: process ".*" did not complete successfully: exit code: 3$/m);
    const summary = out.slice(out.indexOf('------\n'));
    const body = summary.split('\n').slice(2, -2);
    assert.match(summary, /^------\n > \[2\/2\] RUN for i in .*exit 3:\n/);
    assert.equal(body.length, 10);
    assert.match(body[0]!, / line 3$/);
    assert.match(body[9]!, / line 12$/);
    assert.ok(summary.endsWith('------\n'));
  });
});

describe('plain progress rules', () => {
  it('does not show a vertex until it has started', () => {
    const out = replay([status({ vertexes: [vertex('a', 'never started')] })]);
    assert.equal(out, '');
  });

  it('prints CACHED, DONE with the merged duration, ERROR and CANCELED', () => {
    const out = replay([
      status({
        vertexes: [
          vertex('a', 'cached step', { started: at(0), completed: at(0), cached: true }),
          vertex('b', 'done step', { started: at(0), completed: at(1500) }),
          vertex('c', 'failed step', { started: at(0), completed: at(1600), error: 'exit code: 2' }),
          vertex('d', 'cancelled step', {
            started: at(0),
            completed: at(1700),
            error: 'failed: context canceled',
          }),
        ],
      }),
    ]);
    assert.equal(
      out,
      [
        '#1 cached step',
        '#1 CACHED',
        '',
        '#2 done step',
        '#2 DONE 1.5s',
        '',
        '#3 failed step',
        '#3 ERROR: exit code: 2',
        '',
        '#4 cancelled step',
        '#4 CANCELED',
        '------',
        ' > failed step:',
        '------',
        '',
      ].join('\n'),
    );
  });

  it('joins partial log lines and prefixes each line with the seconds since the step started', () => {
    const out = replay([
      status({ vertexes: [vertex('a', 'run')] }),
      status({ vertexes: [vertex('a', 'run', { started: at(0) })] }),
      status({ logs: [log('a', 120, 'hel')] }),
      status({ logs: [log('a', 130, 'lo\nwor')] }),
      status({ logs: [log('a', 12_345, 'ld\n')] }),
      status({ vertexes: [vertex('a', 'run', { started: at(0), completed: at(13_000) })] }),
    ]);
    assert.equal(out, ['#1 run', '#1 0.120 hello', '#1 0.130 world', '#1 DONE 13.0s', ''].join('\n'));
  });

  it('marks the switch to another running step with "#N ..." and resumes the first later', () => {
    const out = replay([
      status({ vertexes: [vertex('a', 'first', { started: at(0) })] }),
      status({ logs: [log('a', 100, 'a1\n')] }),
      status({ vertexes: [vertex('b', 'second', { started: at(200), completed: at(300) })] }),
      status({ vertexes: [vertex('a', 'first', { started: at(0), completed: at(400) })] }),
    ]);
    assert.equal(
      out,
      [
        '#1 first',
        '#1 0.100 a1',
        '#1 ...',
        '',
        '#2 second',
        '#2 DONE 0.1s',
        '',
        '#1 first',
        '#1 DONE 0.4s',
        '',
      ].join('\n'),
    );
  });

  it('throttles status updates below 5% progress within 5 s, always prints completion', () => {
    const s = (current: number, ms: number, done = false) => ({
      id: 'sha256:abc',
      vertex: 'a',
      name: 'downloading',
      current,
      total: 1_000_000,
      timestamp: at(ms),
      started: at(0),
      ...(done ? { completed: at(ms) } : {}),
    });
    const out = replay([
      status({ vertexes: [vertex('a', 'pull', { started: at(0) })] }),
      status({ statuses: [s(100_000, 100)] }),
      status({ statuses: [s(120_000, 200)] }),
      status({ statuses: [s(500_000, 300)] }),
      status({ statuses: [s(1_000_000, 400, true)] }),
      status({ vertexes: [vertex('a', 'pull', { started: at(0), completed: at(500) })] }),
    ]);
    assert.equal(
      out,
      [
        '#1 pull',
        '#1 sha256:abc 100.00kB / 1.00MB 0.1s',
        '#1 sha256:abc 500.00kB / 1.00MB 0.3s',
        '#1 sha256:abc 1.00MB / 1.00MB 0.4s done',
        '#1 DONE 0.5s',
        '',
      ].join('\n'),
    );
  });

  it('prints warnings and folds progress-group members into one step', () => {
    const group = { id: 'g1', name: 'pull group', weak: false };
    const out = replay([
      status({
        vertexes: [
          vertex('m1', 'member 1', { started: at(0), completed: at(100), progressGroup: group }),
          vertex('m2', 'member 2', { started: at(50), completed: at(300), progressGroup: group }),
        ],
      }),
      status({
        vertexes: [vertex('w', 'warned', { started: at(0), completed: at(10) })],
        warnings: [
          { vertex: 'w', level: 1, short: Buffer.from('deprecated'), detail: [], url: '', ranges: [] },
        ],
      }),
    ]);
    assert.match(out, /^#1 pull group\n#1 DONE 0\.3s\n/);
    assert.match(out, /#2 warned\n#2 WARN: deprecated\n#2 DONE 0\.0s\n/);
    assert.ok(!out.includes('member'));
  });
});

describe('other progress modes', () => {
  const recording = readRecording('dockerfile-build.jsonl');

  it('rawjson writes one Go-shaped JSON object per status', () => {
    const out = replay(recording, 'rawjson');
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, recording.length);
    const vertexes = lines.flatMap(
      (l) => (JSON.parse(l) as { vertexes?: Array<Record<string, unknown>> }).vertexes ?? [],
    );
    const started = vertexes.find((v) => v['started']);
    assert.match(String(started!['digest']), /^sha256:[a-f0-9]{64}$/);
    assert.match(String(started!['started']), /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    assert.ok(
      vertexes.every((v) => !('error' in v) || v['error'] !== ''),
      'empty fields are omitted',
    );
    const withLogs = lines
      .map((l) => JSON.parse(l) as { logs?: Array<{ data: string }> })
      .find((s) => s.logs);
    assert.ok(Buffer.from(withLogs!.logs![0]!.data, 'base64').length > 0);
  });

  it('quiet prints only the error summary', () => {
    assert.equal(replay(recording, 'quiet'), '');
    assert.match(replay(readRecording('failing-build.jsonl'), 'quiet'), /^------\n > \[2\/2\] RUN/);
  });

  it('tty redraws in place with a header, timers and colours, and NO_COLOR removes colours', () => {
    const render = (noColor: boolean): string => {
      let out = '';
      const display = new ProgressDisplay({
        mode: 'tty',
        output: { write: (t: string) => (out += t), isTTY: true, columns: 100, rows: 40 },
        noColor,
        rateMs: 0,
      });
      for (const s of recording) display.update(s);
      display.finish();
      return out;
    };
    const colored = render(false);
    assert.match(colored, /\[\+\] Building \d+\.\ds \(\d+\/\d+\) FINISHED/);
    assert.ok(colored.includes('\x1b[34m => [stage-0 3/4] RUN echo building'));
    assert.match(colored, new RegExp(String.raw`\x1b\[\d+A`));
    assert.match(colored, / => => transferring dockerfile: 227B/);
    const plainColors = render(true);
    assert.ok(!plainColors.includes('\x1b[34m'));
    assert.match(plainColors, / => CACHED \[stage-0 1\/4\] FROM /);
  });

  it('refuses unknown modes and tty on a non-terminal', () => {
    assert.throws(
      () => new ProgressDisplay({ mode: 'fancy', output: { write: () => true } }),
      /invalid progress mode fancy/,
    );
    assert.throws(() => new ProgressDisplay({ mode: 'tty', output: { write: () => true } }), /not a console/);
    const auto = new ProgressDisplay({ mode: 'auto', output: { write: () => true, isTTY: false } });
    assert.equal(auto.mode, 'plain');
    auto.finish();
  });
});
