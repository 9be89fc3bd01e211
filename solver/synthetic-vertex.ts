import { sha256 } from '../oci/index.js';
import type { ProgressSink } from './progress.js';

/**
 * A progress line for work that is not an LLB op (resolving image metadata, exporting), shown
 * like a vertex. Its digest is derived from a unique name, as BuildKit does for such steps.
 */
export class SyntheticVertex {
  readonly digest: string;
  readonly #started = new Date();

  constructor(
    private readonly sink: ProgressSink,
    readonly name: string,
    key: string = `${name}|${Date.now()}|${Math.random()}`,
  ) {
    this.digest = sha256(key);
    this.sink.write({
      type: 'vertex',
      vertex: { digest: this.digest, inputs: [], name, cached: false, started: this.#started },
    });
  }

  status(id: string, current: number, total: number, done = false): void {
    const now = new Date();
    this.sink.write({
      type: 'status',
      status: {
        id,
        vertex: this.digest,
        name: id,
        current,
        total,
        timestamp: now,
        started: this.#started,
        ...(done ? { completed: now } : {}),
      },
    });
  }

  log(text: string): void {
    this.sink.write({
      type: 'log',
      log: { vertex: this.digest, stream: 1, data: Buffer.from(text), timestamp: new Date() },
    });
  }

  /** Marks the step done, or failed with `error`. */
  complete(error?: Error): void {
    this.sink.write({
      type: 'vertex',
      vertex: {
        digest: this.digest,
        inputs: [],
        name: this.name,
        cached: false,
        started: this.#started,
        completed: new Date(),
        ...(error ? { error: error.message } : {}),
      },
    });
  }

  /** Runs `fn` as this step: completed on success, marked failed (and rethrown) on error. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.complete();
      return result;
    } catch (err) {
      this.complete(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }
}
