import type Database from 'better-sqlite3';
import { deserialize, serialize } from 'node:v8';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { ExporterRequest } from './job.js';
import type { ProgressEvent } from './progress.js';
import type { OpFacets } from './op-facets.js';
import type { StepRecord } from './scheduler.js';

/** One build as the history API reports it. */
export interface BuildRecord {
  readonly ref: string;
  readonly frontend: string;
  readonly frontendAttrs: Readonly<Record<string, string>>;
  readonly exporters: readonly ExporterRequest[];
  readonly createdAt: Date;
  readonly completedAt?: Date;
  readonly error?: { readonly code: string; readonly kind: string; readonly message: string };
  readonly exporterResponse: Readonly<Record<string, string>>;
  readonly pinned: boolean;
  readonly generation: number;
  readonly numTotalSteps: number;
  readonly numCachedSteps: number;
  readonly numCompletedSteps: number;
  readonly numWarnings: number;
}

/** A step as the history keeps it: the scheduler's record and the facets of its op. */
export interface HistoryStep extends StepRecord {
  readonly facets?: OpFacets;
}

export type HistoryEvent =
  | { readonly type: 'started'; readonly record: BuildRecord }
  | { readonly type: 'complete'; readonly record: BuildRecord }
  | { readonly type: 'deleted'; readonly record: BuildRecord };

/** Step counts derived from a job's progress (each vertex counted once, by its last state). */
export function stepCounts(
  events: Iterable<ProgressEvent>,
): Pick<BuildRecord, 'numTotalSteps' | 'numCachedSteps' | 'numCompletedSteps' | 'numWarnings'> {
  const last = new Map<string, { cached: boolean; completed: boolean }>();
  let numWarnings = 0;
  for (const event of events) {
    if (event.type === 'vertex') {
      last.set(event.vertex.digest, { cached: event.vertex.cached, completed: !!event.vertex.completed });
    } else if (event.type === 'warning') numWarnings++;
  }
  let numCachedSteps = 0;
  let numCompletedSteps = 0;
  for (const v of last.values()) {
    if (v.cached) numCachedSteps++;
    if (v.completed) numCompletedSteps++;
  }
  return { numTotalSteps: last.size, numCachedSteps, numCompletedSteps, numWarnings };
}

/**
 * Build history: every build's request, outcome, step counts and exporter response, in SQLite,
 * bounded to the newest `maxEntries` and `maxAgeMs` (pinned records are kept). Listeners receive
 * started, complete and deleted events.
 */
export class BuildHistory {
  readonly #db: Database.Database;
  readonly #active = new Map<string, BuildRecord>();
  readonly #listeners = new Set<(event: HistoryEvent) => void>();
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;

  constructor(options: { db: Database.Database; maxEntries?: number; maxAgeMs?: number }) {
    this.#db = options.db;
    this.#maxEntries = options.maxEntries ?? 50;
    this.#maxAgeMs = options.maxAgeMs ?? 48 * 3600 * 1000;
    this.#db.exec(`CREATE TABLE IF NOT EXISTS solver_history (
      ref TEXT PRIMARY KEY, created_at INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0, record TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS solver_history_steps (ref TEXT PRIMARY KEY, steps TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS solver_history_progress (ref TEXT PRIMARY KEY, events BLOB NOT NULL);`);
  }

  started(record: BuildRecord): void {
    this.#active.set(record.ref, record);
    this.#emit({ type: 'started', record });
  }

  /**
   * Records a finished build: its record, its steps and its progress events (what `Control.Status`
   * replays for it later, as `buildctl debug logs` asks; the job's own bound on log bytes holds).
   */
  completed(
    record: BuildRecord,
    steps: readonly HistoryStep[] = [],
    progress: readonly ProgressEvent[] = [],
  ): void {
    this.#active.delete(record.ref);
    this.#db
      .prepare('INSERT OR REPLACE INTO solver_history (ref, created_at, pinned, record) VALUES (?, ?, ?, ?)')
      .run(record.ref, record.createdAt.getTime(), record.pinned ? 1 : 0, JSON.stringify(record));
    this.#db
      .prepare('INSERT OR REPLACE INTO solver_history_steps (ref, steps) VALUES (?, ?)')
      .run(record.ref, JSON.stringify(steps));
    this.#db
      .prepare('INSERT OR REPLACE INTO solver_history_progress (ref, events) VALUES (?, ?)')
      .run(record.ref, deflateRawSync(serialize(progress), { level: 1 }));
    this.#emit({ type: 'complete', record });
    this.#trim();
  }

  /** Active builds first, then completed ones, newest first. */
  list(options: { activeOnly?: boolean; ref?: string } = {}): BuildRecord[] {
    const active = [...this.#active.values()];
    const done = options.activeOnly
      ? []
      : this.#db
          .prepare<[], { record: string }>('SELECT record FROM solver_history ORDER BY created_at DESC')
          .all()
          .map((row) => revive(row.record));
    return [...active, ...done].filter((r) => !options.ref || r.ref === options.ref);
  }

  /** The steps of a completed build (empty when unknown). */
  steps(ref: string): HistoryStep[] {
    const row = this.#db
      .prepare<[string], { steps: string }>('SELECT steps FROM solver_history_steps WHERE ref = ?')
      .get(ref);
    return row ? (JSON.parse(row.steps) as HistoryStep[]) : [];
  }

  /** The progress events of a completed build, in order; undefined when there is no such record. */
  progress(ref: string): ProgressEvent[] | undefined {
    const row = this.#db
      .prepare<[string], { events: Buffer }>('SELECT events FROM solver_history_progress WHERE ref = ?')
      .get(ref);
    return row ? (deserialize(inflateRawSync(row.events)) as ProgressEvent[]) : undefined;
  }

  pin(ref: string, pinned: boolean): void {
    const record = this.list({ ref })[0];
    if (!record) throw notFound(ref);
    this.#db
      .prepare('UPDATE solver_history SET pinned = ?, record = ? WHERE ref = ?')
      .run(pinned ? 1 : 0, JSON.stringify({ ...record, pinned }), ref);
  }

  delete(ref: string): void {
    const record = this.list({ ref })[0];
    if (!record || this.#active.has(ref)) throw notFound(ref);
    this.#forget(ref);
    this.#emit({ type: 'deleted', record });
  }

  subscribe(listener: (event: HistoryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: HistoryEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  #trim(): void {
    const rows = this.#db
      .prepare<[], { ref: string; created_at: number; pinned: number; record: string }>(
        'SELECT * FROM solver_history ORDER BY created_at DESC',
      )
      .all();
    const cutoff = Date.now() - this.#maxAgeMs;
    rows.forEach((row, i) => {
      // As BuildKit: a record goes only when it is both past the count and past the age.
      if (row.pinned || i < this.#maxEntries || row.created_at >= cutoff) return;
      this.#forget(row.ref);
      this.#emit({ type: 'deleted', record: revive(row.record) });
    });
  }

  #forget(ref: string): void {
    for (const table of ['solver_history', 'solver_history_steps', 'solver_history_progress']) {
      this.#db.prepare(`DELETE FROM ${table} WHERE ref = ?`).run(ref);
    }
  }
}

function revive(json: string): BuildRecord {
  const raw = JSON.parse(json) as BuildRecord & { createdAt: string; completedAt?: string };
  return {
    ...raw,
    createdAt: new Date(raw.createdAt),
    ...(raw.completedAt ? { completedAt: new Date(raw.completedAt) } : {}),
  };
}

function notFound(ref: string): Error {
  return Object.assign(new Error(`no build history record for ${ref}`), { kind: 'not-found' });
}
