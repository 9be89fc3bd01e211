import type { Measurement, Subject } from './runner.js';
import { ratio, summarize, type Summary } from './stats.js';
import type { Target, Workload } from './workload.js';

/** One phase of one workload, every subject's figures side by side. */
export interface PhaseRow {
  readonly workload: string;
  readonly phase: string;
  readonly ms: Partial<Record<Subject, Summary>>;
  /** CPU time of each daemon (with its reaped children: runc, the steps). */
  readonly cpuMs: Partial<Record<Subject, Summary>>;
  readonly peakRss: Partial<Record<Subject, Summary>>;
  /** kiln ÷ BuildKit, of the medians. */
  readonly vsBuildkit?: number;
  /** kiln ÷ baseline tool, of the medians. */
  readonly vsBaseline?: number;
  /** BuildKit ÷ baseline tool, of the medians. */
  readonly buildkitVsBaseline?: number;
  readonly target?: Target;
  /** met / missed against the target; `no data` when a side is missing. */
  readonly verdict?: 'met' | 'missed' | 'no data';
}

/** Memory of each daemon over a workload's repetitions. */
export interface MemoryRow {
  readonly workload: string;
  readonly idle: Partial<Record<Subject, Summary>>;
  /** The largest phase peak of each repetition. */
  readonly peak: Partial<Record<Subject, Summary>>;
  /** RSS a second after the last phase: memory held after the build. */
  readonly after: Partial<Record<Subject, Summary>>;
}

export interface FailureRow {
  readonly workload: string;
  readonly subject: Subject;
  readonly phase: string;
  readonly count: number;
  readonly message: string;
}

export interface BenchSummary {
  readonly phases: readonly PhaseRow[];
  readonly memory: readonly MemoryRow[];
  readonly failures: readonly FailureRow[];
}

const subjects: readonly Subject[] = ['kiln', 'buildkit', 'baseline'];
const special = new Set(['idle', 'after', 'error', 'start']);

function verdictOf(target: Target | undefined, row: Omit<PhaseRow, 'verdict'>): PhaseRow['verdict'] {
  if (!target) return undefined;
  const value =
    target.versus === 'buildkit'
      ? row.vsBuildkit
      : target.versus === 'baseline'
        ? row.vsBaseline
        : row.ms.kiln?.median;
  if (value === undefined) return 'no data';
  return value <= target.max ? 'met' : 'missed';
}

/** Turns raw measurements into per-phase rows (medians, spreads, ratios, verdicts). */
export function summarizeBench(
  workloads: readonly Workload[],
  measurements: readonly Measurement[],
): BenchSummary {
  const phases: PhaseRow[] = [];
  const memory: MemoryRow[] = [];
  const failures = new Map<string, { row: FailureRow; count: number }>();
  for (const workload of workloads) {
    const mine = measurements.filter((m) => m.workload === workload.name);
    if (mine.length === 0) continue;
    const names = [...new Set(mine.filter((m) => !special.has(m.phase)).map((m) => m.phase))];
    for (const phase of names) {
      const ms: Partial<Record<Subject, Summary>> = {};
      const cpuMs: Partial<Record<Subject, Summary>> = {};
      const peakRss: Partial<Record<Subject, Summary>> = {};
      for (const s of subjects) {
        const of = mine.filter((m) => m.phase === phase && m.subject === s && m.error === undefined);
        const t = summarize(of.flatMap((m) => (m.ms === undefined ? [] : [m.ms])));
        const p = summarize(of.flatMap((m) => (m.peakRss === undefined ? [] : [m.peakRss])));
        const c = summarize(of.flatMap((m) => (m.cpuMs === undefined ? [] : [m.cpuMs])));
        if (t) ms[s] = t;
        if (c) cpuMs[s] = c;
        if (p) peakRss[s] = p;
      }
      const target = workload.targets?.find((t) => t.phase === phase);
      const row = {
        workload: workload.name,
        phase,
        ms,
        cpuMs,
        peakRss,
        ...optional('vsBuildkit', ratio(ms.kiln, ms.buildkit)),
        ...optional('vsBaseline', ratio(ms.kiln, ms.baseline)),
        ...optional('buildkitVsBaseline', ratio(ms.buildkit, ms.baseline)),
        ...(target ? { target } : {}),
      };
      phases.push({ ...row, ...optional('verdict', verdictOf(target, row)) });
    }
    const per = (phase: string, field: 'rss') => {
      const out: Partial<Record<Subject, Summary>> = {};
      for (const s of subjects) {
        const v = summarize(
          mine.filter((m) => m.phase === phase && m.subject === s).map((m) => m[field] ?? 0),
        );
        if (v) out[s] = v;
      }
      return out;
    };
    const peak: Partial<Record<Subject, Summary>> = {};
    for (const s of subjects) {
      const reps = new Map<number, number>();
      for (const m of mine) {
        if (m.subject === s && m.peakRss !== undefined)
          reps.set(m.rep, Math.max(reps.get(m.rep) ?? 0, m.peakRss));
      }
      const v = summarize([...reps.values()]);
      if (v) peak[s] = v;
    }
    memory.push({ workload: workload.name, idle: per('idle', 'rss'), peak, after: per('after', 'rss') });
    for (const m of mine) {
      if (m.error === undefined) continue;
      const message = m.error.split('\n').find((l) => l.trim()) ?? m.error;
      const key = `${workload.name}\0${m.subject}\0${m.phase}\0${message}`;
      const entry = failures.get(key) ?? {
        row: { workload: workload.name, subject: m.subject, phase: m.phase, count: 0, message },
        count: 0,
      };
      entry.count++;
      failures.set(key, entry);
    }
  }
  return {
    phases,
    memory,
    failures: [...failures.values()].map(({ row, count }) => ({ ...row, count })),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const seconds = (s: Summary | undefined): string =>
  s ? `${(s.median / 1000).toFixed(2)} s (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})` : '–';
const megabytes = (s: Summary | undefined): string => (s ? `${(s.median / 2 ** 20).toFixed(0)} MB` : '–');
const times = (r: number | undefined): string => (r === undefined ? '–' : `${r.toFixed(2)}×`);

function targetText(row: PhaseRow): string {
  const t = row.target;
  if (!t) return '';
  const bound =
    t.versus === 'absolute-ms'
      ? `< ${t.max / 1000} s`
      : `≤ ${t.max}× ${t.versus === 'buildkit' ? 'BK' : 'base'}`;
  return `${bound}: ${row.verdict}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The summary as Markdown tables (times as median (min–max) over the repetitions). */
export function renderSummary(summary: BenchSummary, baselineNames: ReadonlyMap<string, string>): string {
  const phaseTable = table(
    ['workload', 'phase', 'kiln', 'BuildKit', 'kiln/BK', 'baseline', 'kiln/base', 'target'],
    summary.phases.map((r) => [
      r.workload,
      r.phase,
      seconds(r.ms.kiln),
      seconds(r.ms.buildkit),
      times(r.vsBuildkit),
      r.ms.baseline ? `${baselineNames.get(r.workload) ?? 'tool'} ${seconds(r.ms.baseline)}` : '',
      r.ms.baseline ? times(r.vsBaseline) : '',
      targetText(r),
    ]),
  );
  const cpuTable = table(
    ['workload', 'phase', 'kiln CPU', 'BuildKit CPU', 'kiln/BK'],
    summary.phases
      .filter((r) => r.cpuMs.kiln || r.cpuMs.buildkit)
      .map((r) => [
        r.workload,
        r.phase,
        seconds(r.cpuMs.kiln),
        seconds(r.cpuMs.buildkit),
        times(ratio(r.cpuMs.kiln, r.cpuMs.buildkit)),
      ]),
  );
  const memoryTable = table(
    ['workload', 'idle kiln', 'idle BK', 'peak kiln', 'peak BK', 'peak kiln/BK', 'after kiln', 'after BK'],
    summary.memory.map((m) => [
      m.workload,
      megabytes(m.idle.kiln),
      megabytes(m.idle.buildkit),
      megabytes(m.peak.kiln),
      megabytes(m.peak.buildkit),
      times(ratio(m.peak.kiln, m.peak.buildkit)),
      megabytes(m.after.kiln),
      megabytes(m.after.buildkit),
    ]),
  );
  const failures = summary.failures.map(
    (f) => `- ${f.workload} / ${f.subject} / ${f.phase} (${f.count}×): ${f.message.slice(0, 300)}`,
  );
  return [
    phaseTable,
    '',
    'Daemon CPU time (user + system, with the runc processes it reaped):',
    '',
    cpuTable,
    '',
    memoryTable,
    ...(failures.length ? ['', 'Failures:', ...failures] : []),
  ].join('\n');
}
