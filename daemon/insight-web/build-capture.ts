import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { BuildHistory, HistoryEvent, JobRegistry, ProgressEvent } from '../../solver/index.js';
import { LogTail } from './log-tail.js';

/** One vertex of a build as its progress showed it (synthetic ones such as exporters included). */
export interface CapturedStep {
  readonly digest: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly cached: boolean;
  /** Milliseconds since the epoch. */
  readonly started?: number;
  readonly completed?: number;
  readonly error?: string;
}

/** The kept end of a step's logs. */
export interface CapturedLog {
  readonly text: string;
  /** Bytes dropped from the start to stay within the bound. */
  readonly dropped: number;
}

/** What changed: a build's progress moved, it started, finished (and its capture is stored), or went. */
export interface CaptureChange {
  readonly ref: string;
  readonly type: 'progress' | 'started' | 'complete' | 'deleted';
}

interface Live {
  readonly steps: Map<string, CapturedStep>;
  readonly logs: Map<string, LogTail>;
}

/**
 * Follows every build the history records: reads its job's progress from the first event, keeps
 * each vertex's last state and the last `logLimit` bytes (64 KiB by default) of each vertex's
 * logs, and stores them in SQLite (`insight_web_steps`) when the job's progress ends, so the
 * build view can show them after the build and after a restart. Rows go when the history deletes
 * the build. Memory: one bounded tail per step of each running build. `close()` stops following.
 */
export class BuildCapture {
  readonly #db: Database.Database;
  readonly #jobs: JobRegistry;
  readonly #logLimit: number;
  readonly #logger: Logger | undefined;
  readonly #live = new Map<string, Live>();
  readonly #listeners = new Set<(change: CaptureChange) => void>();
  readonly #stop = new AbortController();
  readonly #unsubscribe: () => void;

  constructor(options: {
    db: Database.Database;
    history: BuildHistory;
    jobs: JobRegistry;
    logLimit?: number;
    logger?: Logger;
  }) {
    this.#db = options.db;
    this.#jobs = options.jobs;
    this.#logLimit = options.logLimit ?? 64 * 1024;
    this.#logger = options.logger;
    this.#db.exec(`CREATE TABLE IF NOT EXISTS insight_web_steps (
      ref TEXT NOT NULL, digest TEXT NOT NULL, step TEXT NOT NULL, logs BLOB, dropped INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (ref, digest)
    )`);
    this.#unsubscribe = options.history.subscribe((event) => this.#onHistory(event));
    // Builds the history dropped while the daemon was down.
    const known = new Set(options.history.list().map((r) => r.ref));
    const stored = this.#db.prepare<[], { ref: string }>('SELECT DISTINCT ref FROM insight_web_steps').all();
    for (const { ref } of stored) {
      if (!known.has(ref)) this.#db.prepare('DELETE FROM insight_web_steps WHERE ref = ?').run(ref);
    }
  }

  /** The steps of a build (running or stored), in first-seen order; undefined when never captured. */
  steps(ref: string): CapturedStep[] | undefined {
    const live = this.#live.get(ref);
    if (live) return [...live.steps.values()];
    const rows = this.#db
      .prepare<[string], { step: string }>('SELECT step FROM insight_web_steps WHERE ref = ? ORDER BY rowid')
      .all(ref);
    return rows.length > 0 ? rows.map((r) => JSON.parse(r.step) as CapturedStep) : undefined;
  }

  /** The kept logs of each step of a build that wrote any. */
  logs(ref: string): Map<string, CapturedLog> {
    const live = this.#live.get(ref);
    const out = new Map<string, CapturedLog>();
    if (live) {
      for (const [digest, tail] of live.logs) {
        const { data, dropped } = tail.read();
        out.set(digest, { text: data.toString('utf8'), dropped });
      }
      return out;
    }
    const rows = this.#db
      .prepare<[string], { digest: string; logs: Buffer | null; dropped: number }>(
        'SELECT digest, logs, dropped FROM insight_web_steps WHERE ref = ? AND logs IS NOT NULL',
      )
      .all(ref);
    for (const r of rows) out.set(r.digest, { text: r.logs!.toString('utf8'), dropped: r.dropped });
    return out;
  }

  /** Whether the build's progress is still being followed. */
  following(ref: string): boolean {
    return this.#live.has(ref);
  }

  subscribe(listener: (change: CaptureChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops following running builds (what was captured of them is not stored) and the history. */
  close(): void {
    this.#unsubscribe();
    this.#stop.abort();
    this.#listeners.clear();
  }

  #onHistory(event: HistoryEvent): void {
    const ref = event.record.ref;
    if (event.type === 'started') {
      const job = this.#jobs.find(ref);
      if (!job) return;
      const live: Live = { steps: new Map(), logs: new Map() };
      this.#live.set(ref, live);
      this.#emit({ ref, type: 'started' });
      this.#follow(ref, live, job.progress.read(this.#stop.signal)).catch((err: unknown) => {
        this.#logger?.warn({ err, ref }, 'build view lost the progress of a build');
        this.#live.delete(ref);
      });
    } else if (event.type === 'deleted') {
      this.#db.prepare('DELETE FROM insight_web_steps WHERE ref = ?').run(ref);
      this.#emit({ ref, type: 'deleted' });
    }
    // 'complete' comes before the job's progress ends; #follow reports it once all is stored.
  }

  async #follow(ref: string, live: Live, batches: AsyncGenerator<ProgressEvent[]>): Promise<void> {
    for await (const batch of batches) {
      for (const event of batch) this.#apply(live, event);
      this.#emit({ ref, type: 'progress' });
    }
    if (this.#stop.signal.aborted) return;
    this.#store(ref, live);
    this.#live.delete(ref);
    this.#emit({ ref, type: 'complete' });
  }

  #apply(live: Live, event: ProgressEvent): void {
    if (event.type === 'vertex') {
      const v = event.vertex;
      live.steps.set(v.digest, {
        digest: v.digest,
        name: v.name,
        inputs: [...v.inputs],
        cached: v.cached,
        ...(v.started ? { started: v.started.getTime() } : {}),
        ...(v.completed ? { completed: v.completed.getTime() } : {}),
        ...(v.error ? { error: v.error } : {}),
      });
    } else if (event.type === 'log') {
      let tail = live.logs.get(event.log.vertex);
      if (!tail) {
        tail = new LogTail({ limit: this.#logLimit });
        live.logs.set(event.log.vertex, tail);
      }
      tail.append(event.log.data);
    }
  }

  #store(ref: string, live: Live): void {
    const insert = this.#db.prepare(
      'INSERT OR REPLACE INTO insight_web_steps (ref, digest, step, logs, dropped) VALUES (?, ?, ?, ?, ?)',
    );
    this.#db.transaction(() => {
      for (const step of live.steps.values()) {
        const tail = live.logs.get(step.digest)?.read();
        insert.run(ref, step.digest, JSON.stringify(step), tail?.data ?? null, tail?.dropped ?? 0);
      }
    })();
  }

  #emit(change: CaptureChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
