/**
 * gRPC length-prefixed message framing (1 byte compressed flag, 4 bytes big-endian length,
 * payload) over an HTTP/2 DATA byte stream whose chunks do not align with messages.
 */

/** Largest message accepted from the client; Go's own default receive limit is 4 MiB. */
export const MAX_MESSAGE_BYTES = 16 << 20;

/** The 5-byte prefix for an uncompressed message of `length` bytes. */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = 0;
  header.writeUInt32BE(length, 1);
  return header;
}

/**
 * Splits a byte stream into gRPC messages. A message that lies inside one chunk is returned as
 * a view of that chunk (no copy); only messages that straddle chunks are concatenated.
 */
export class MessageDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Feeds one chunk; calls `emit` for every complete message, in order. Throws on a bad frame. */
  push(chunk: Buffer, emit: (message: Buffer) => void): void {
    if (this.buffered === 0) {
      let offset = 0;
      while (chunk.length - offset >= 5) {
        const length = readLength(chunk, offset);
        if (chunk.length - offset - 5 < length) break;
        emit(chunk.subarray(offset + 5, offset + 5 + length));
        offset += 5 + length;
      }
      if (offset === chunk.length) return;
      chunk = chunk.subarray(offset);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 5) {
      const head = this.peek(5);
      const length = readLength(head, 0);
      if (this.buffered < 5 + length) return;
      const whole = this.take(5 + length);
      emit(whole.subarray(5));
    }
  }

  /** Bytes of an incomplete message still held. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    return Buffer.concat(this.chunks, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Buffer;
      const want = n - filled;
      if (c.length <= want) {
        c.copy(out, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, filled, 0, want);
        this.chunks[0] = c.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}

function readLength(buf: Buffer, offset: number): number {
  if (buf[offset] !== 0)
    throw new Error('compressed gRPC messages are not supported (no encoding was negotiated)');
  const length = buf.readUInt32BE(offset + 1);
  if (length > MAX_MESSAGE_BYTES)
    throw new Error(`gRPC message of ${length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  return length;
}
