const block = 512;
const mtimeAt = 136;
const sizeAt = 124;
const sumAt = 148;
const typeAt = 156;

/** Bytes arriving in arbitrary chunks, taken back out by exact counts. */
class ByteQueue {
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  get length(): number {
    return this.#length;
  }

  /** Up to `max` bytes, as they are (no copy when one chunk holds them). */
  takeUpTo(max: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length <= max) {
      this.#chunks.shift();
      this.#length -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(max);
    this.#length -= max;
    return first.subarray(0, max);
  }

  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const part = this.takeUpTo(left);
      parts.push(part);
      left -= part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}

function readNumber(h: Buffer, at: number, length: number): number {
  if (h[at]! & 0x80) {
    let v = h[at]! & 0x7f;
    for (let i = at + 1; i < at + length; i++) v = v * 256 + h[i]!;
    return v;
  }
  const text = h
    .toString('latin1', at, at + length)
    .replace(/[\0 ].*$/s, '')
    .trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < block; i++) sum += i >= sumAt && i < sumAt + 8 ? 0x20 : h[i]!;
  return sum;
}

function writeOctal(h: Buffer, at: number, length: number, value: number): void {
  h.write(value.toString(8).padStart(length - 1, '0'), at, length - 1, 'latin1');
  h[at + length - 1] = 0;
}

function reseal(h: Buffer): void {
  h.write(checksum(h).toString(8).padStart(6, '0') + '\0 ', sumAt, 8, 'latin1');
}

/** Rewrites `mtime` records above `epoch` in a PAX extended header's body; null when unchanged. */
function clampPax(body: Buffer, epoch: number): Buffer | null {
  const records: Buffer[] = [];
  let changed = false;
  for (let at = 0; at < body.length;) {
    const space = body.indexOf(0x20, at);
    const length = space > at ? Number(body.toString('latin1', at, space)) : NaN;
    if (!Number.isInteger(length) || length <= 0 || at + length > body.length) return null;
    const record = body.subarray(at, at + length);
    const text = record.toString('latin1');
    const eq = text.indexOf('=');
    const key = text.slice(text.indexOf(' ') + 1, eq);
    if (key === 'mtime' && Number(text.slice(eq + 1, -1)) > epoch) {
      const tail = `mtime=${epoch}\n`;
      let size = tail.length + 1;
      while (`${size} ${tail}`.length !== size) size++;
      records.push(Buffer.from(`${size} ${tail}`, 'latin1'));
      changed = true;
    } else {
      records.push(record);
    }
    at += length;
  }
  return changed ? Buffer.concat(records) : null;
}

/** Bytes of body an entry of this type carries (links and special files carry none). */
function bodySize(h: Buffer): number {
  return '123456'.includes(String.fromCharCode(h[typeAt]!)) && h[typeAt] !== 0
    ? 0
    : readNumber(h, sizeAt, 12);
}

/**
 * Clamps every modification time in a tar stream that is later than `epoch` (seconds) to
 * `epoch`, in ustar headers and PAX `mtime` records, as `rewrite-timestamp` asks; everything else
 * passes through byte for byte, so a layer without later times comes out unchanged. Headers that
 * change get a new checksum. Calls `fail` (which must throw) on a malformed stream.
 */
export async function* clampTarTimes(
  source: AsyncIterable<Buffer>,
  epoch: number,
  fail: (reason: string) => never,
): AsyncGenerator<Buffer> {
  const queue = new ByteQueue();
  let passThrough = 0;
  let pax: { header: Buffer; need: number } | undefined;
  const step = function* (): Generator<Buffer, boolean> {
    if (passThrough > 0) {
      if (queue.length === 0) return false;
      const out = queue.takeUpTo(passThrough);
      passThrough -= out.length;
      yield out;
      return true;
    }
    if (pax) {
      if (queue.length < pax.need) return false;
      const padded = queue.take(pax.need);
      const size = readNumber(pax.header, sizeAt, 12);
      const body = clampPax(padded.subarray(0, size), epoch);
      const header = pax.header;
      pax = undefined;
      if (!body) {
        yield header;
        yield padded;
        return true;
      }
      writeOctal(header, sizeAt, 12, body.length);
      reseal(header);
      yield header;
      yield body;
      yield Buffer.alloc((block - (body.length % block)) % block);
      return true;
    }
    if (queue.length < block) return false;
    const header = Buffer.from(queue.take(block));
    if (header.every((b) => b === 0)) {
      yield header;
      return true;
    }
    if (readNumber(header, sumAt, 8) !== checksum(header)) fail('header checksum mismatch');
    if (readNumber(header, mtimeAt, 12) > epoch) {
      writeOctal(header, mtimeAt, 12, epoch);
      reseal(header);
    }
    const size = bodySize(header);
    const padded = Math.ceil(size / block) * block;
    const type = String.fromCharCode(header[typeAt]!);
    if (type === 'x' || type === 'g') {
      pax = { header, need: padded };
      return true;
    }
    yield header;
    passThrough = padded;
    return true;
  };
  for await (const chunk of source) {
    queue.push(chunk);
    while (yield* step());
  }
  while (yield* step());
  if (queue.length > 0 || passThrough > 0 || pax) fail('the tar stream ends inside an entry');
}
