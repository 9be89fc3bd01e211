import type { BuildHistory, BuildRecord, HistoryStep } from './history.js';
import { describeMiss } from './miss-text.js';
import { changedFacets } from './op-facets.js';
import type { StepRecord } from './scheduler.js';
import type { TreeRecordStore } from './tree-records.js';

/** Why a step ran instead of coming from the cache. */
export type MissReason =
  | { readonly kind: 'no-previous-build' }
  | { readonly kind: 'new-step'; readonly detail: string }
  /** `changes`: which parts of the op changed (`command`, `env:NAME`, `mounts`…), when recorded. */
  | { readonly kind: 'step-changed'; readonly changes?: string[] }
  | {
      readonly kind: 'files-changed';
      readonly input: string;
      readonly added: string[];
      readonly removed: string[];
      readonly changed: string[];
    }
  | { readonly kind: 'input-content-changed'; readonly input: string }
  | { readonly kind: 'parent-changed'; readonly parent: string }
  /** `previous`: the source the previous build used, when it differs (a base image's old digest). */
  | { readonly kind: 'source-changed'; readonly source: string; readonly previous?: string }
  | { readonly kind: 'not-cached-before'; readonly detail: string };

export interface StepExplanation {
  readonly digest: string;
  readonly name: string;
  readonly state: StepRecord['state'];
  readonly durationMs: number;
  readonly reason?: MissReason;
  /** The reason in one line of English, for people. */
  readonly summary?: string;
}

export interface BuildExplanation {
  readonly ref: string;
  readonly previous?: string;
  readonly argsChanged: ReadonlyArray<{
    readonly key: string;
    readonly before?: string;
    readonly after?: string;
  }>;
  readonly steps: readonly StepExplanation[];
  /** The chain of steps that set the build's duration, first to last. */
  readonly criticalPath: readonly StepExplanation[];
  readonly totalMs: number;
}

const duration = (s: StepRecord): number => (s.started && s.completed ? s.completed - s.started : 0);

/** `[stage 2/5] RUN …` → `[stage 2/5]`: the slot of a Dockerfile step, stable when its text changes. */
function slotOf(name: string): string | undefined {
  return /^\[[^\]]*\d+\/\d+\]/.exec(name)?.[0];
}

/** Earlier builds weighed to find the previous one (each costs a read of its steps). */
const candidateLimit = 20;

/**
 * The earlier build this one is compared with: of the recent finished builds of the same target
 * (same frontend, Dockerfile name and target), the one sharing the most steps (by digest or
 * name), the most recent on a tie; so two projects built on one daemon are not compared with
 * each other.
 */
function previousBuild(
  history: BuildHistory,
  build: BuildRecord,
  steps: readonly StepRecord[],
): BuildRecord | undefined {
  const same = (r: BuildRecord) =>
    r.frontend === build.frontend &&
    (r.frontendAttrs.filename ?? '') === (build.frontendAttrs.filename ?? '') &&
    (r.frontendAttrs.target ?? '') === (build.frontendAttrs.target ?? '');
  const candidates = history
    .list()
    .filter((r) => r.ref !== build.ref && r.completedAt && r.createdAt < build.createdAt && same(r))
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
    .slice(0, candidateLimit);
  const digests = new Set(steps.map((s) => s.digest));
  const names = new Set(steps.map((s) => s.name));
  let best: { record: BuildRecord; score: number } | undefined;
  for (const record of candidates) {
    const score = history.steps(record.ref).filter((s) => digests.has(s.digest) || names.has(s.name)).length;
    if (!best || score > best.score) best = { record, score };
  }
  return best?.record;
}

/** The snapshot a step produced, as a consumer's cache key recorded it (local sources have no key parts). */
function producedSnapshot(steps: readonly StepRecord[], digest: string): string | undefined {
  for (const step of steps) {
    for (const dep of step.keyParts?.deps ?? [])
      if (dep.vertex === digest && dep.snapshot) return dep.snapshot;
  }
  return undefined;
}

/**
 * Explains a finished build: for every step that ran, why the cache missed, compared with the
 * most recent earlier build of the same target; and the critical path.
 */
export function explainBuild(options: {
  history: BuildHistory;
  records: TreeRecordStore;
  ref?: string;
}): BuildExplanation | undefined {
  const { history, records } = options;
  const build = options.ref
    ? history.list({ ref: options.ref })[0]
    : history.list().find((r) => r.completedAt);
  if (!build) return undefined;
  const steps = history.steps(build.ref);
  const previous = previousBuild(history, build, steps);
  const before = previous ? history.steps(previous.ref) : [];
  const byName = new Map(before.map((s) => [s.name, s]));
  const byDigest = new Map(before.map((s) => [s.digest, s]));
  const bySlot = new Map(before.flatMap((s) => (slotOf(s.name) ? [[slotOf(s.name)!, s] as const] : [])));
  const current = new Map(steps.map((s) => [s.digest, s]));
  const match = (s: StepRecord) =>
    byDigest.get(s.digest) ??
    byName.get(s.name) ??
    (slotOf(s.name) ? bySlot.get(slotOf(s.name)!) : undefined);

  const reasonFor = (step: HistoryStep): MissReason => {
    if (!previous) return { kind: 'no-previous-build' };
    const old = match(step);
    if (!old) return { kind: 'new-step', detail: 'no comparable step in the previous build' };
    if (step.source && old.source && step.source !== old.source)
      return { kind: 'source-changed', source: step.source, previous: old.source };
    const now = step.keyParts;
    const then = old.keyParts;
    if (!now || !then)
      return { kind: 'not-cached-before', detail: 'the previous build did not record this step' };
    if (now.opDigest !== then.opDigest) {
      if (step.source?.startsWith('local://')) {
        // A local source's key is its content: list what changed in the files sent.
        const a = producedSnapshot(before, old.digest);
        const b = producedSnapshot(steps, step.digest);
        const diff = a && b ? fileDiff(records, a, b, []) : undefined;
        if (diff) return { kind: 'files-changed', input: step.source, ...diff };
      }
      if (step.source) return { kind: 'source-changed', source: step.source };
      const changes = changedFacets(step.facets, (old as HistoryStep).facets);
      return changes.length > 0 ? { kind: 'step-changed', changes } : { kind: 'step-changed' };
    }
    for (let i = 0; i < now.deps.length; i++) {
      const a = now.deps[i]!;
      const b = then.deps[i];
      const parent = current.get(a.vertex);
      const parentName = parent?.name ?? a.vertex;
      if (!b) return { kind: 'parent-changed', parent: parentName };
      if (a.checksum !== undefined && a.checksum !== b.checksum) {
        const diff =
          a.snapshot && b.snapshot ? fileDiff(records, b.snapshot, a.snapshot, a.selectors) : undefined;
        return diff
          ? { kind: 'files-changed', input: parentName, ...diff }
          : { kind: 'input-content-changed', input: parentName };
      }
      if (a.key !== undefined && a.key !== b.key) return { kind: 'parent-changed', parent: parentName };
    }
    return {
      kind: 'not-cached-before',
      detail: 'the same step was not in the cache (pruned, or --no-cache)',
    };
  };

  const args = new Set([...Object.keys(build.frontendAttrs), ...Object.keys(previous?.frontendAttrs ?? {})]);
  const argsChanged = previous
    ? [...args]
        .filter((k) => k.startsWith('build-arg:') && build.frontendAttrs[k] !== previous.frontendAttrs[k])
        .map((k) => ({
          key: k.slice('build-arg:'.length),
          ...(previous.frontendAttrs[k] !== undefined ? { before: previous.frontendAttrs[k] } : {}),
          ...(build.frontendAttrs[k] !== undefined ? { after: build.frontendAttrs[k] } : {}),
        }))
    : [];
  const explained: StepExplanation[] = steps.map((s) => {
    const reason = s.state === 'done' ? reasonFor(s) : undefined;
    return {
      digest: s.digest,
      name: s.name,
      state: s.state,
      durationMs: duration(s),
      ...(reason ? { reason, summary: describeMiss(reason, argsChanged) } : {}),
    };
  });
  const path = criticalPath(steps);
  const index = new Map(explained.map((e) => [e.digest, e]));
  const first = Math.min(...steps.map((s) => s.started ?? Number.POSITIVE_INFINITY));
  const last = Math.max(...steps.map((s) => s.completed ?? 0));
  return {
    ref: build.ref,
    ...(previous ? { previous: previous.ref } : {}),
    argsChanged,
    steps: explained,
    criticalPath: path.map((d) => index.get(d)!),
    totalMs: Number.isFinite(first) && last > 0 ? last - first : 0,
  };
}

/**
 * From the step that finished last, back through the input it waited for longest, to a source.
 * A cached input is ready when its own inputs were (it did no work): when progress settles it
 * later, that wait is not what held the step up.
 */
export function criticalPath(steps: readonly StepRecord[]): string[] {
  const byDigest = new Map(steps.map((s) => [s.digest, s]));
  const ready = new Map<string, number>();
  const readyAt = (s: StepRecord, depth = 0): number => {
    if (s.state !== 'cached' || depth > 64) return s.completed!;
    const known = ready.get(s.digest);
    if (known !== undefined) return known;
    const inputs = s.inputs.map((d) => byDigest.get(d)).filter((i): i is StepRecord => !!i?.completed);
    const at =
      inputs.length > 0 ? Math.max(...inputs.map((i) => readyAt(i, depth + 1))) : (s.started ?? s.completed!);
    ready.set(s.digest, at);
    return at;
  };
  let step = [...steps].filter((s) => s.completed).sort((a, b) => b.completed! - a.completed!)[0];
  const path: string[] = [];
  const seen = new Set<string>();
  while (step && !seen.has(step.digest)) {
    seen.add(step.digest);
    path.unshift(step.digest);
    step = step.inputs
      .map((d) => byDigest.get(d))
      .filter((s): s is StepRecord => !!s?.completed)
      .sort((a, b) => readyAt(b) - readyAt(a))[0];
  }
  return path;
}

/** Files that differ between two received trees, under the selected paths. */
function fileDiff(
  records: TreeRecordStore,
  before: string,
  after: string,
  selectors: readonly string[],
): { added: string[]; removed: string[]; changed: string[] } | undefined {
  const a = records.entries(before);
  const b = records.entries(after);
  if (!a || !b) return undefined;
  const roots = selectors.map((s) => s.replace(/^\/+|\/+$/g, '')).filter((s) => s !== '' && s !== '.');
  const selected = (path: string) =>
    roots.length === 0 || roots.some((r) => path === r || path.startsWith(`${r}/`));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [path, entry] of b) {
    if (!selected(path)) continue;
    const old = a.get(path);
    if (!old) added.push(path);
    else if (
      old.digest !== entry.digest ||
      old.stat.mode !== entry.stat.mode ||
      old.stat.uid !== entry.stat.uid ||
      old.stat.gid !== entry.stat.gid ||
      old.stat.linkname !== entry.stat.linkname
    ) {
      changed.push(path);
    }
  }
  for (const path of a.keys()) if (selected(path) && !b.has(path)) removed.push(path);
  return { added, removed, changed };
}
