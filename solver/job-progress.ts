import type { ProgressEvent, ProgressSink } from './progress.js';

/** Log bytes kept for replay to a Status call that attaches late. */
const replayLogLimit = 16 * 1024 * 1024;

interface Reader {
  position: number;
}

/**
 * The progress of one job: an append-only event list that any number of Status calls read,
 * from the start, at their own pace. Ends when the job ends. Memory is bounded: past
 * `replayLogLimit` bytes of logs, log events every current reader has already consumed are
 * dropped (vertex and status events are always kept, so a late reader still sees every step).
 */
export class JobProgress implements ProgressSink {
  #events: ProgressEvent[] = [];
  #logBytes = 0;
  #ended = false;
  readonly #readers = new Set<Reader>();
  readonly #waiters = new Set<() => void>();

  write(event: ProgressEvent): void {
    if (this.#ended) return;
    this.#events.push(event);
    if (event.type === 'log') {
      this.#logBytes += event.log.data.byteLength;
      if (this.#logBytes > replayLogLimit) this.#dropConsumedLogs();
    }
    this.#wake();
  }

  /** No more events; readers finish after draining. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The events kept so far (every vertex and status event; logs may have been dropped). */
  events(): readonly ProgressEvent[] {
    return this.#events;
  }

  /** Yields batches of events (all that is available at each wake-up) until the job ends or the signal aborts. */
  async *read(signal?: AbortSignal): AsyncGenerator<ProgressEvent[]> {
    const reader: Reader = { position: 0 };
    this.#readers.add(reader);
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (reader.position < this.#events.length) {
          const batch = this.#events.slice(reader.position);
          reader.position = this.#events.length;
          yield batch;
          continue;
        }
        if (this.#ended) return;
        await this.#nextWrite(signal);
      }
    } finally {
      this.#readers.delete(reader);
    }
  }

  #nextWrite(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #dropConsumedLogs(): void {
    const consumed = Math.min(this.#events.length, ...[...this.#readers].map((r) => r.position));
    const kept: ProgressEvent[] = [];
    const shift: number[] = [];
    let dropped = 0;
    for (let i = 0; i < this.#events.length; i++) {
      shift.push(dropped);
      const event = this.#events[i]!;
      if (i < consumed && event.type === 'log' && this.#logBytes > replayLogLimit / 2) {
        this.#logBytes -= event.log.data.byteLength;
        dropped++;
      } else {
        kept.push(event);
      }
    }
    shift.push(dropped);
    for (const reader of this.#readers) reader.position -= shift[reader.position] ?? dropped;
    this.#events = kept;
  }
}
