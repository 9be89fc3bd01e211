import { Writable } from 'node:stream';
import type { VertexProgress } from '../op.js';

/** What a step may stream to clients before the rest is held back (BuildKit's default is 2 MiB). */
export const defaultStreamLimit = 2 * 1024 * 1024;
/** How much of the end of a clipped step is always shown. */
export const defaultTailBytes = 64 * 1024;

/**
 * A step's stdout and stderr on their way to the progress stream, bounded: the first `limit`
 * bytes stream live; past that only the last `tail` bytes are kept, and `finish()` sends a
 * "clipped" note followed by that tail, so the lines just before the exit (the real error) are
 * never lost, whatever the step printed before.
 */
export class StepOutput {
  #streamed = 0;
  #clipped = 0;
  #tail: Array<{ fd: 1 | 2; data: Buffer }> = [];
  #tailBytes = 0;

  constructor(
    private readonly progress: VertexProgress,
    private readonly limit = defaultStreamLimit,
    private readonly tail = defaultTailBytes,
  ) {}

  writable(fd: 1 | 2): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.#write(fd, chunk);
        callback();
      },
    });
  }

  #write(fd: 1 | 2, chunk: Buffer): void {
    if (this.#streamed + chunk.length <= this.limit) {
      this.#streamed += chunk.length;
      this.progress.log(fd, chunk);
      return;
    }
    this.#clipped += chunk.length;
    this.#tail.push({ fd, data: chunk });
    this.#tailBytes += chunk.length;
    while (this.#tailBytes - this.#tail[0]!.data.length >= this.tail) {
      this.#tailBytes -= this.#tail.shift()!.data.length;
    }
  }

  /** Sends the held-back tail (once the process has exited). */
  finish(): void {
    if (this.#clipped === 0) return;
    let dropped = this.#clipped - this.#tailBytes;
    // Start the tail at a line boundary, so the first shown line is whole.
    const first = this.#tail[0];
    if (first && dropped > 0) {
      const newline = first.data.indexOf(10);
      if (newline >= 0 && newline < first.data.length - 1) {
        dropped += newline + 1;
        this.#tail[0] = { fd: first.fd, data: first.data.subarray(newline + 1) };
      }
    }
    const mib = (this.limit / (1024 * 1024)).toFixed(0);
    this.progress.log(
      2,
      Buffer.from(
        `\n[output clipped, log limit ${mib}MiB reached; ${dropped} bytes not shown; the last lines follow]\n`,
      ),
    );
    for (const { fd, data } of this.#tail) this.progress.log(fd, data);
    this.#tail = [];
  }
}
