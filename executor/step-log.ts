import { Writable } from 'node:stream';

/** BuildKit's default per-step log limit. */
export const defaultLogLimit = 2 * 1024 * 1024;

/**
 * A step's output, bounded in memory: the first bytes up to the limit are kept, and once the limit
 * is reached the last `tail` bytes keep rolling, so what a failing process printed just before
 * exiting is never clipped away. Memory stays under `limit + tail` (plus one chunk). Not tied to a
 * process; feed it with `write` or through `writable()`.
 */
export class StepLog {
  readonly #headLimit: number;
  readonly #tailLimit: number;
  readonly #head: Buffer[] = [];
  #headBytes = 0;
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #total = 0;

  /** `limit`: bytes kept from the start (default 2 MiB); `tail`: bytes kept from the end (default 64 KiB). */
  constructor(opts: { limit?: number; tail?: number } = {}) {
    this.#headLimit = opts.limit ?? defaultLogLimit;
    this.#tailLimit = opts.tail ?? 64 * 1024;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#total;
  }

  /** Bytes written but no longer kept. */
  get clipped(): number {
    return this.#total - this.#headBytes - Math.min(this.#tailBytes, this.#tailLimit);
  }

  write(chunk: Uint8Array | string): void {
    let buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#total += buf.length;
    if (this.#headBytes < this.#headLimit) {
      const n = Math.min(buf.length, this.#headLimit - this.#headBytes);
      this.#head.push(Buffer.from(buf.subarray(0, n)));
      this.#headBytes += n;
      buf = buf.subarray(n);
    }
    if (buf.length === 0 || this.#tailLimit === 0) return;
    this.#tail.push(Buffer.from(buf.subarray(Math.max(0, buf.length - this.#tailLimit))));
    this.#tailBytes += Math.min(buf.length, this.#tailLimit);
    while (this.#tail.length > 1 && this.#tailBytes - this.#tail[0]!.length >= this.#tailLimit) {
      this.#tailBytes -= this.#tail.shift()!.length;
    }
  }

  /** A Writable that appends to this log (never errors, never ends anything else). */
  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        this.write(chunk);
        done();
      },
    });
  }

  #tailBuffer(): Buffer {
    const all = Buffer.concat(this.#tail);
    return all.subarray(Math.max(0, all.length - this.#tailLimit));
  }

  /** The kept output as text: the head, then `[… N bytes clipped …]` when bytes were dropped, then the tail. */
  text(): string {
    const head = Buffer.concat(this.#head).toString('utf8');
    const tail = this.#tailBuffer().toString('utf8');
    const clipped = this.clipped;
    if (clipped === 0) return head + tail;
    const sep = head.endsWith('\n') || head === '' ? '' : '\n';
    return `${head}${sep}[… ${clipped} bytes clipped …]\n${tail}`;
  }

  /**
   * The last `n` lines written (without their newlines), taken from the tail; a line cut by clipping
   * is left out rather than shown half.
   */
  lastLines(n: number): string[] {
    let text: string;
    if (this.clipped === 0) {
      text = Buffer.concat([...this.#head, this.#tailBuffer()]).toString('utf8');
    } else {
      text = this.#tailBuffer().toString('utf8');
      const nl = text.indexOf('\n');
      text = nl < 0 ? '' : text.slice(nl + 1);
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return n <= 0 ? [] : lines.slice(-n);
  }
}
