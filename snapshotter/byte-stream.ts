/**
 * Pulls exact byte counts out of an async iterable of chunks, without copying file bodies: `take`
 * hands the underlying chunks (or slices of them) straight through.
 */
export class ByteStream {
  readonly #source: AsyncIterator<Uint8Array>;
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  #done = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value)
      ? next.value
      : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    return true;
  }

  /** Exactly `n` bytes; undefined at a clean end of input; `short` gets called for a partial read. */
  async read(n: number, short: (got: number) => Error): Promise<Buffer | undefined> {
    while (this.#buffered < n) {
      if (!(await this.#pull())) {
        if (this.#buffered === 0) return undefined;
        throw short(this.#buffered);
      }
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.#chunks[0] as Buffer;
      if (head.length <= need) {
        parts.push(head);
        this.#chunks.shift();
        need -= head.length;
      } else {
        parts.push(head.subarray(0, need));
        this.#chunks[0] = head.subarray(need);
        need = 0;
      }
    }
    this.#buffered -= n;
    this.offset += n;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
  }

  /** Yields the next `n` bytes in pieces; throws `short()` if the input ends first. */
  async *take(n: number, short: (got: number) => Error): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#chunks.length === 0 && !(await this.#pull())) throw short(n - left);
      const head = this.#chunks[0];
      if (!head) continue;
      const piece = head.length <= left ? head : head.subarray(0, left);
      if (piece === head) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(left);
      this.#buffered -= piece.length;
      this.offset += piece.length;
      left -= piece.length;
      yield piece;
    }
  }

  /** Consumes everything left (so a digest over the input covers trailing padding too). */
  async drain(): Promise<void> {
    this.offset += this.#buffered;
    this.#chunks.length = 0;
    this.#buffered = 0;
    while (await this.#pull()) {
      this.offset += this.#buffered;
      this.#chunks.length = 0;
      this.#buffered = 0;
    }
  }
}
