import type { LlbOpView } from './llb-view.js';
import type { ResultRef, VertexProgress } from './op.js';
import type { LogRecord, ProgressSink, StatusRecord, StatusUpdate, VertexRecord } from './progress.js';

/** The results of a settled vertex: one cache key and one ref per output. */
export interface VertexOutcome {
  readonly keys: readonly string[];
  readonly refs: readonly ResultRef[];
}

/** The parts of a vertex's cache key: its op's own digest and each input's contribution. */
export interface KeyParts {
  readonly opDigest: string;
  readonly deps: ReadonlyArray<{
    /** The producing vertex of this input. */
    readonly vertex: string;
    readonly key?: string;
    readonly checksum?: string;
    readonly selectors: readonly string[];
    /** The input's committed snapshot, when it had one (to list changed files). */
    readonly snapshot?: string;
  }>;
}

/** Where a vertex is in its life; one value, replaced as a whole on each transition. */
export type VertexState =
  | { readonly kind: 'waiting' }
  | { readonly kind: 'running'; readonly started: Date }
  | { readonly kind: 'cached'; readonly started?: Date; readonly at: Date; readonly outcome: VertexOutcome }
  | {
      readonly kind: 'done';
      readonly started: Date;
      readonly completed: Date;
      readonly outcome: VertexOutcome;
    }
  | { readonly kind: 'failed'; readonly started?: Date; readonly completed: Date; readonly error: Error };

/** One party interested in a vertex: a job, seen through its progress sink. */
export interface VertexSubscriber {
  readonly progress: ProgressSink;
  /** Told the outcome once the vertex is done or cached (at once when it already is). */
  settled?(digest: string, outcome: VertexOutcome): void;
}

/** Logs kept per vertex to replay to a job that attaches while (or after) it runs. */
const replayLogBytes = 64 * 1024;

/**
 * Least time between two reports of one unfinished status. Pulls and context transfers report
 * every chunk or file (5,000 reports for a 5,000-file context), and each report became a
 * StatusResponse that the daemon encoded and the client decoded and drew; clients redraw a few
 * times a second at most. The latest value is sent when the interval is up, and a finished status
 * at once.
 */
const statusIntervalMs = 100;

/**
 * A vertex of the daemon-wide graph, shared by every job whose definition contains its op. It
 * tracks its state, who is attached, and fans its progress out to all of them, replaying what a
 * late subscriber missed.
 */
export class SharedVertex implements VertexProgress {
  #state: VertexState = { kind: 'waiting' };
  readonly #subscribers = new Set<VertexSubscriber>();
  /** The statuses as last sent (replayed to late subscribers). */
  readonly #statuses = new Map<string, StatusRecord>();
  /** When each status was last sent, the timers holding back a newer value, and that value. */
  readonly #statusSent = new Map<string, number>();
  readonly #statusHeld = new Map<string, NodeJS.Timeout>();
  readonly #statusLatest = new Map<string, StatusUpdate>();
  readonly #logs: LogRecord[] = [];
  #logBytes = 0;
  /** Set once evaluation starts; every job awaits the same promise. */
  outcome: Promise<VertexOutcome> | undefined;
  /** What the cache key was made of, once computed (to explain a miss later). */
  keyParts: KeyParts | undefined;
  readonly abort = new AbortController();

  constructor(
    readonly digest: string,
    readonly view: LlbOpView,
  ) {}

  get state(): VertexState {
    return this.#state;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  attach(subscriber: VertexSubscriber): void {
    if (this.#subscribers.has(subscriber)) return;
    this.#subscribers.add(subscriber);
    subscriber.progress.write({ type: 'vertex', vertex: this.record() });
    for (const status of this.#statuses.values()) subscriber.progress.write({ type: 'status', status });
    for (const log of this.#logs) subscriber.progress.write({ type: 'log', log });
    const s = this.#state;
    if (s.kind === 'cached' || s.kind === 'done') subscriber.settled?.(this.digest, s.outcome);
  }

  detach(subscriber: VertexSubscriber): void {
    this.#subscribers.delete(subscriber);
  }

  transition(state: VertexState): void {
    this.#state = state;
    // Held statuses go out first, so none arrives after the vertex's end.
    for (const id of [...this.#statusHeld.keys()]) this.#sendStatus(id);
    this.#emitRecord();
    if (state.kind === 'cached' || state.kind === 'done') {
      for (const subscriber of this.#subscribers) subscriber.settled?.(this.digest, state.outcome);
    }
  }

  /** The record clients display for the current state. */
  record(): VertexRecord {
    const base = { digest: this.digest, inputs: this.view.inputDigests, name: this.view.name };
    const group = this.view.progressGroup ? { progressGroup: this.view.progressGroup } : {};
    const s = this.#state;
    switch (s.kind) {
      case 'waiting':
        return { ...base, ...group, cached: false };
      case 'running':
        return { ...base, ...group, cached: false, started: s.started };
      case 'cached':
        return { ...base, ...group, cached: true, started: s.started ?? s.at, completed: s.at };
      case 'done':
        return { ...base, ...group, cached: false, started: s.started, completed: s.completed };
      case 'failed':
        return {
          ...base,
          ...group,
          cached: false,
          ...(s.started ? { started: s.started } : { started: s.completed }),
          completed: s.completed,
          error: s.error.message,
        };
    }
  }

  status(status: StatusUpdate): void {
    // A transfer reports once per file: a held update costs one map write, nothing more.
    this.#statusLatest.set(status.id, status);
    if (status.completed === undefined && this.#statusHeld.has(status.id)) return;
    const wait = (this.#statusSent.get(status.id) ?? -Infinity) + statusIntervalMs - performance.now();
    if (wait <= 0 || status.completed !== undefined) {
      this.#sendStatus(status.id);
      return;
    }
    const timer = setTimeout(() => this.#sendStatus(status.id), wait);
    timer.unref();
    this.#statusHeld.set(status.id, timer);
  }

  #sendStatus(id: string): void {
    clearTimeout(this.#statusHeld.get(id));
    this.#statusHeld.delete(id);
    this.#statusSent.set(id, performance.now());
    const latest = this.#statusLatest.get(id);
    if (!latest) return;
    this.#statusLatest.delete(id);
    const status: StatusRecord = { ...latest, vertex: this.digest, timestamp: new Date() };
    this.#statuses.set(id, status);
    this.#emit({ type: 'status', status });
  }

  log(stream: 1 | 2, data: Uint8Array): void {
    const record: LogRecord = { vertex: this.digest, stream, data, timestamp: new Date() };
    this.#logs.push(record);
    this.#logBytes += data.byteLength;
    while (this.#logBytes > replayLogBytes && this.#logs.length > 1) {
      this.#logBytes -= this.#logs.shift()!.data.byteLength;
    }
    this.#emit({ type: 'log', log: record });
  }

  warn(short: string, detail: readonly string[] = []): void {
    this.#emit({ type: 'warning', warning: { vertex: this.digest, level: 1, short, detail } });
  }

  #emitRecord(): void {
    this.#emit({ type: 'vertex', vertex: this.record() });
  }

  #emit(event: Parameters<ProgressSink['write']>[0]): void {
    for (const subscriber of this.#subscribers) subscriber.progress.write(event);
  }
}
