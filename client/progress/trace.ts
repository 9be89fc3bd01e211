import { formatLogSeconds } from './format.js';
import { mergeIntervals, type Interval } from './intervals.js';
import type { ProgressStatus, ProgressVertex, ProgressWarning, SolveStatus } from './solve-status.js';

const logsBufferSize = 10;

/** The last lines of a step kept for the error summary (a ring of ten, oldest first). */
export class LogRing {
  readonly #slots: Array<string | undefined> = new Array<string | undefined>(logsBufferSize);
  #pos = 0;
  set(line: string): void {
    this.#slots[this.#pos] = line;
  }
  advance(): void {
    this.#pos = (this.#pos + 1) % logsBufferSize;
  }
  lines(): string[] {
    const out: string[] = [];
    for (let i = 0; i < logsBufferSize; i++) {
      const line = this.#slots[(this.#pos + i) % logsBufferSize];
      if (line !== undefined) out.push(line);
    }
    return out;
  }
}

/** Display state of one step (or of one progress group, which stands for its members). */
export class VertexState {
  vertex: ProgressVertex;
  prev: ProgressVertex | undefined;
  /** `#N` in plain output; 0 until first printed. */
  index = 0;
  readonly statuses: ProgressStatus[] = [];
  readonly byId = new Map<string, ProgressStatus>();
  statusUpdates = new Set<string>();
  /** Formatted log lines not yet printed (plain) or all of them (tty); the last may be partial. */
  logs: string[] = [];
  logsPartial = false;
  logsOffset = 0;
  logsBuffer: LogRing | undefined;
  readonly warnings: ProgressWarning[] = [];
  warningIdx = 0;
  /** Interval by start time, so updates of one run overwrite each other. */
  readonly intervals = new Map<number, Interval>();
  merged: Interval[] = [];
  lastBlockTime: number | undefined;
  count = 0;
  hidden = false;
  /** The last raw output lines, for the tty display. */
  term: string[] = [];
  termBytes = 0;
  termCount = 0;
  readonly group: Map<string, ProgressVertex> | undefined;

  constructor(vertex: ProgressVertex, group?: Map<string, ProgressVertex>) {
    this.vertex = vertex;
    this.group = group;
  }

  bump(now: number, n = 1): void {
    if (this.count === 0) this.lastBlockTime = now;
    this.count += n;
  }
  mostRecentInterval(): Interval | undefined {
    return this.merged[this.merged.length - 1];
  }
  isStarted(): boolean {
    return this.merged.length > 0;
  }
  isCompleted(): boolean {
    const ival = this.mostRecentInterval();
    return ival !== undefined && ival.stop !== undefined;
  }
}

export interface TraceOptions {
  /** Keep the last lines of output per step (tty). */
  readonly keepTerm?: boolean;
  /** Clock in ms (tests inject one). */
  readonly now?: () => number;
}

const termLines = 6;
/** CSI escape sequences, dropped from the tty's output preview. */
const ansiEscape = new RegExp(String.raw`\x1b\[[0-9;?]*[A-Za-z]`, 'g');

/**
 * Accumulates SolveStatus updates into per-step display state, following BuildKit's progress UI
 * rules: a step is announced before it is referenced, shown once started, replaced wholesale by
 * each update; statuses are keyed by id; log chunks are split into `#N <secs> <line>` lines;
 * progress-group members fold into one group line.
 */
export class ProgressTrace {
  startTime: number | undefined;
  localTimeDiff = 0;
  /** Steps in the order they started (what the error summary and tty walk). */
  readonly vertexes: VertexState[] = [];
  readonly byDigest = new Map<string, VertexState>();
  readonly updates = new Set<string>();
  readonly #groups = new Map<string, VertexState>();
  readonly #keepTerm: boolean;
  readonly now: () => number;

  constructor(options: TraceOptions = {}) {
    this.#keepTerm = options.keepTerm ?? false;
    this.now = options.now ?? Date.now;
  }

  #trigger(state: VertexState, v: ProgressVertex): void {
    if (!v.started) return;
    const old = state.prev;
    const changed =
      !old ||
      v.digest !== old.digest ||
      v.name !== old.name ||
      !old.started ||
      v.started.getTime() !== old.started.getTime() ||
      v.completed !== undefined ||
      v.cached !== old.cached ||
      v.error !== old.error;
    if (changed) {
      state.bump(this.now());
      this.updates.add(v.digest);
    }
    state.prev = v;
  }

  update(status: SolveStatus): void {
    const now = this.now();
    const touchedGroups: string[] = [];
    for (const v of status.vertexes) {
      if (this.startTime === undefined && v.started) this.startTime = v.started.getTime();
      if (v.progressGroup) {
        let group = this.#groups.get(v.progressGroup.id);
        if (!group) {
          group = new VertexState(
            { digest: v.progressGroup.id, inputs: [], name: v.progressGroup.name, cached: false, error: '' },
            new Map(),
          );
          group.hidden = true;
          this.#groups.set(v.progressGroup.id, group);
          this.byDigest.set(group.vertex.digest, group);
        }
        if (!touchedGroups.includes(v.progressGroup.id)) touchedGroups.push(v.progressGroup.id);
        group.group!.set(v.digest, v);
        this.byDigest.set(v.digest, group);
        continue;
      }
      let state = this.byDigest.get(v.digest);
      const prevStarted = state?.isStarted() ?? false;
      const existed = state !== undefined;
      if (!state) {
        state = new VertexState(v);
        this.byDigest.set(v.digest, state);
      }
      this.#trigger(state, v);
      if (v.started && !prevStarted) {
        if (this.localTimeDiff === 0) this.localTimeDiff = now - v.started.getTime();
        this.vertexes.push(state);
      }
      if (!(existed && prevStarted && !v.started)) state.vertex = v;
      if (v.started) {
        state.intervals.set(v.started.getTime(), {
          start: v.started.getTime(),
          ...(v.completed ? { stop: v.completed.getTime() } : {}),
        });
        state.merged = mergeIntervals(state.intervals.values());
      }
    }
    for (const id of touchedGroups) this.#refreshGroup(this.#groups.get(id)!, now);
    for (const s of status.statuses) {
      const state = this.byDigest.get(s.vertex);
      if (!state) continue;
      const prev = state.byId.get(s.id);
      if (s.started && (!prev || !prev.started)) state.statuses.push(s);
      else if (prev) {
        const i = state.statuses.indexOf(prev);
        if (i >= 0) state.statuses[i] = s;
      }
      state.byId.set(s.id, s);
      state.statusUpdates.add(s.id);
      this.updates.add(state.vertex.digest);
      state.bump(now);
    }
    for (const w of status.warnings) {
      const state = this.byDigest.get(w.vertex);
      if (!state) continue;
      state.warnings.push(w);
      state.bump(now);
    }
    for (const l of status.logs) {
      const state = this.byDigest.get(l.vertex);
      if (!state) continue;
      if (this.#keepTerm) this.#writeTerm(state, l.data);
      const text = Buffer.from(l.data).toString('utf8');
      const pieces = text.split('\n');
      const complete = text.length > 0 && pieces[pieces.length - 1] === '';
      if (complete) pieces.pop();
      if (text.length > 0) {
        pieces.forEach((piece, i) => {
          if (state.logsPartial && state.logs.length > 0 && i === 0) {
            state.logs[state.logs.length - 1] += piece;
          } else {
            const ival = state.mostRecentInterval();
            const secs = ival ? (l.timestamp.getTime() - ival.start) / 1000 : 0;
            state.logs.push(`#${state.index} ${formatLogSeconds(secs)} ${piece}`);
          }
        });
      }
      state.logsPartial = !complete;
      this.updates.add(state.vertex.digest);
      state.bump(now);
    }
  }

  #refreshGroup(group: VertexState, now: number): void {
    const wasStarted = group.isStarted();
    const wasHidden = group.hidden;
    let cached = true;
    let error = '';
    let changed = false;
    for (const sub of group.group!.values()) {
      if (sub.started) {
        const ival: Interval = {
          start: sub.started.getTime(),
          ...(sub.completed ? { stop: sub.completed.getTime() } : {}),
        };
        const prev = group.intervals.get(ival.start);
        if (!prev || prev.stop !== ival.stop) changed = true;
        group.intervals.set(ival.start, ival);
        if (!sub.progressGroup?.weak) group.hidden = false;
      }
      cached = cached && sub.cached;
      if (error === '') error = sub.error;
      else group.hidden = false;
    }
    if (group.vertex.cached !== cached || group.vertex.error !== error) changed = true;
    group.vertex = { ...group.vertex, cached, error };
    const revealed = wasHidden && !group.hidden;
    if (revealed) changed = true;
    group.merged = mergeIntervals(group.intervals.values());
    if (!wasStarted && group.isStarted() && this.localTimeDiff === 0) {
      this.localTimeDiff = now - group.merged[0]!.start;
    }
    if (group.hidden) return;
    if (revealed) this.vertexes.push(group);
    if (changed) {
      group.bump(now);
      this.updates.add(group.vertex.digest);
    }
  }

  #writeTerm(state: VertexState, data: Uint8Array): void {
    state.termBytes += data.length;
    const text = Buffer.from(data).toString('utf8').replace(ansiEscape, '');
    const lines = text.split(/\r?\n/);
    if (state.term.length === 0) state.term.push('');
    state.term[state.term.length - 1] += lines[0]!.split('\r').pop() ?? '';
    for (const line of lines.slice(1)) state.term.push(line.split('\r').pop() ?? '');
    if (state.term.length > termLines) state.term = state.term.slice(-termLines);
  }

  /** Steps whose last run failed (not cancelled), for the error summary. */
  failed(): VertexState[] {
    return this.vertexes.filter((v) => v.vertex.error !== '' && !v.vertex.error.endsWith('context canceled'));
  }

  /** All warnings, in step order. */
  allWarnings(): ProgressWarning[] {
    return this.vertexes.flatMap((v) => v.warnings);
  }
}
