import {
  criticalPath,
  explainBuild,
  type ArgChange,
  type BuildExplanation,
  type BuildHistory,
  type BuildRecord,
  type MissReason,
  type TreeRecordStore,
} from '../../solver/index.js';
import type { BuildCapture, CapturedStep } from './build-capture.js';

export type StepState = 'waiting' | 'running' | 'cached' | 'done' | 'failed';

/** One step as the page draws it. Times are milliseconds since the epoch. */
export interface StepView {
  readonly digest: string;
  readonly name: string;
  /** Inputs that are steps of this view (edges of the graph). */
  readonly inputs: readonly string[];
  readonly state: StepState;
  readonly started?: number;
  readonly completed?: number;
  readonly error?: string;
  /** Why it ran instead of coming from the cache (finished builds). */
  readonly reason?: MissReason;
  readonly summary?: string;
  readonly critical: boolean;
  /** The end of its logs, when it wrote any; `logsDropped` bytes before it were not kept. */
  readonly logs?: string;
  readonly logsDropped?: number;
}

/** A build in the list. */
export interface BuildSummary {
  readonly ref: string;
  readonly frontend: string;
  /** The Dockerfile target or name, when the build named one. */
  readonly target?: string;
  readonly state: 'running' | 'completed' | 'failed';
  readonly createdAt: number;
  readonly completedAt?: number;
  readonly numSteps: number;
  readonly numCached: number;
  readonly error?: string;
}

/** A build with every step, its critical path and its explanation. */
export interface BuildView extends BuildSummary {
  readonly steps: readonly StepView[];
  /** Digests, first to last. */
  readonly criticalPath: readonly string[];
  /** The build it was compared with. */
  readonly previous?: string;
  readonly argsChanged: readonly ArgChange[];
  /** The time axis: from the first thing that happened to the end (now, while running). */
  readonly start: number;
  readonly end: number;
}

/** What a view is made of; `explanation` is looked up by the caller (it caches them). */
export interface ViewSources {
  readonly history: BuildHistory;
  readonly capture: BuildCapture;
  readonly explain: (ref: string) => BuildExplanation | undefined;
  readonly now?: number;
}

function summaryOf(record: BuildRecord, capture: BuildCapture): BuildSummary {
  const target = record.frontendAttrs.target || record.frontendAttrs.filename;
  const live = record.completedAt ? undefined : capture.steps(record.ref);
  return {
    ref: record.ref,
    frontend: record.frontend,
    ...(target ? { target } : {}),
    state: !record.completedAt ? 'running' : record.error ? 'failed' : 'completed',
    createdAt: record.createdAt.getTime(),
    ...(record.completedAt ? { completedAt: record.completedAt.getTime() } : {}),
    numSteps: live ? live.length : record.numTotalSteps,
    numCached: live ? live.filter((s) => s.cached).length : record.numCachedSteps,
    ...(record.error ? { error: record.error.message } : {}),
  };
}

/** Every build in the history, running ones first, then newest first. */
export function listBuilds(history: BuildHistory, capture: BuildCapture): BuildSummary[] {
  return history.list().map((r) => summaryOf(r, capture));
}

/** The history's states as the page draws them: a step of which only the key was needed looks cached, as in the progress. */
const viewStates: Readonly<Record<string, StepState>> = {
  waiting: 'waiting',
  running: 'running',
  cached: 'cached',
  resolved: 'cached',
  done: 'done',
  failed: 'failed',
};

function stateOf(step: CapturedStep): StepState {
  if (step.error) return 'failed';
  if (step.cached) return 'cached';
  if (step.completed) return 'done';
  return step.started ? 'running' : 'waiting';
}

/** One build as the page shows it, or undefined when the history has no such build. */
export function buildView(ref: string, sources: ViewSources): BuildView | undefined {
  const { history, capture } = sources;
  const record = history.list({ ref })[0];
  if (!record) return undefined;
  const recorded = history.steps(ref);
  // The capture has every vertex the client saw (exporters too); older builds only the history's.
  const captured: CapturedStep[] =
    capture.steps(ref) ??
    recorded.map((s) => ({
      digest: s.digest,
      name: s.name,
      inputs: s.inputs,
      cached: s.state === 'cached',
      ...(s.started ? { started: s.started } : {}),
      ...(s.completed ? { completed: s.completed } : {}),
      ...(s.error ? { error: s.error } : {}),
    }));
  const recordedState = new Map<string, string>(recorded.map((s) => [s.digest, s.state]));
  const explanation = record.completedAt ? sources.explain(ref) : undefined;
  const explained = new Map(explanation?.steps.map((s) => [s.digest, s]));
  const digests = new Set(captured.map((s) => s.digest));
  const path =
    explanation?.criticalPath.map((s) => s.digest) ??
    criticalPath(
      captured
        .filter((s) => s.inputs.length > 0 || captured.some((o) => o.inputs.includes(s.digest)))
        .map((s) => ({ ...s, state: stateOf(s) })),
    );
  const onPath = new Set(path);
  const logs = capture.logs(ref);
  const steps = captured.map((s): StepView => {
    const e = explained.get(s.digest);
    const log = logs.get(s.digest);
    const state = viewStates[recordedState.get(s.digest) ?? ''] ?? stateOf(s);
    return {
      digest: s.digest,
      name: s.name,
      inputs: s.inputs.filter((d) => digests.has(d)),
      state,
      ...(s.started ? { started: s.started } : {}),
      ...(s.completed ? { completed: s.completed } : {}),
      ...(s.error ? { error: s.error } : {}),
      ...(e?.reason ? { reason: e.reason } : {}),
      ...(e?.summary ? { summary: e.summary } : {}),
      critical: onPath.has(s.digest),
      ...(log ? { logs: log.text, logsDropped: log.dropped } : {}),
    };
  });
  const now = sources.now ?? Date.now();
  const starts = steps.flatMap((s) => (s.started ? [s.started] : []));
  const ends = steps.flatMap((s) => (s.completed ? [s.completed] : []));
  const start = Math.min(record.createdAt.getTime(), ...starts);
  const end = record.completedAt ? Math.max(record.completedAt.getTime(), ...ends) : now;
  return {
    ...summaryOf(record, capture),
    numSteps: steps.length,
    numCached: steps.filter((s) => s.state === 'cached').length,
    steps,
    criticalPath: path.filter((d) => digests.has(d)),
    ...(explanation?.previous ? { previous: explanation.previous } : {}),
    argsChanged: explanation?.argsChanged ?? [],
    start,
    end,
  };
}

/** Explanations of finished builds, kept while nothing is deleted (an earlier build may go). */
export class ExplanationCache {
  readonly #entries = new Map<string, BuildExplanation | undefined>();
  readonly #sources: { history: BuildHistory; records: TreeRecordStore };

  constructor(sources: { history: BuildHistory; records: TreeRecordStore }) {
    this.#sources = sources;
  }

  get(ref: string): BuildExplanation | undefined {
    if (this.#entries.has(ref)) return this.#entries.get(ref);
    const explanation = explainBuild({ ...this.#sources, ref });
    if (this.#entries.size >= 32) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(ref, explanation);
    return explanation;
  }

  clear(): void {
    this.#entries.clear();
  }
}
