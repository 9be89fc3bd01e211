/**
 * The end of one step's log output, bounded: once more than `limit` bytes arrived, the oldest
 * chunks go, and what is kept starts at a line boundary. Appending costs O(1) amortised.
 */
export class LogTail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #dropped = 0;

  constructor(options: { limit: number }) {
    this.#limit = options.limit;
  }

  append(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.#chunks.push(Buffer.from(data));
    this.#bytes += data.byteLength;
    // Trim lazily: whole chunks first, the rest when read.
    while (this.#chunks.length > 1 && this.#bytes - this.#chunks[0]!.byteLength >= this.#limit) {
      const first = this.#chunks.shift()!;
      this.#bytes -= first.byteLength;
      this.#dropped += first.byteLength;
    }
  }

  /** The kept bytes (at most `limit`, from the start of a line when anything was dropped) and how many went. */
  read(): { data: Buffer; dropped: number } {
    let data = Buffer.concat(this.#chunks);
    let dropped = this.#dropped;
    if (data.byteLength > this.#limit) {
      dropped += data.byteLength - this.#limit;
      data = data.subarray(data.byteLength - this.#limit);
    }
    if (dropped > 0) {
      const newline = data.indexOf(0x0a);
      if (newline >= 0 && newline < data.byteLength - 1) {
        dropped += newline + 1;
        data = data.subarray(newline + 1);
      }
    }
    return { data, dropped };
  }

  get bytes(): number {
    return Math.min(this.#bytes, this.#limit);
  }
}
