import { ByteStream } from './byte-stream.js';
import { LayerFormatError } from './errors.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One archive member with PAX and GNU extensions already applied. */
export interface TarEntry {
  /** As stored (UTF-8), PAX `path` or GNU long name applied; not yet cleaned. */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds since the epoch, and the nanoseconds PAX may add. */
  readonly mtime: { readonly sec: number; readonly nsec: number };
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes, values as raw bytes (PAX `SCHILY.xattr.*` and `LIBARCHIVE.xattr.*`). */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

const block = 512;
const typeFlags: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** An octal field, or a base-256 one (high bit set) as GNU and Go write for large values. */
function numeric(buf: Buffer, start: number, length: number, offset: number): number {
  const field = buf.subarray(start, start + length);
  if (((field[0] as number) & 0x80) !== 0) {
    if (field[0] === 0xff) throw new LayerFormatError({ reason: 'negative base-256 number', offset });
    let value = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    return value;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new LayerFormatError({ reason: `bad octal field ${JSON.stringify(text)}`, offset });
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < block; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const text = header
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+/g, '');
  const stored = parseInt(text, 8);
  return stored === unsigned || stored === signed;
}

/** PAX records `"<len> <key>=<value>\n"`, values kept as raw bytes (xattrs may be binary). */
export function parsePax(data: Buffer, offset: number): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    const length = space === -1 ? NaN : parseInt(data.subarray(pos, space).toString('latin1'), 10);
    if (
      !Number.isSafeInteger(length) ||
      length <= space - pos ||
      pos + length > data.length ||
      data[pos + length - 1] !== 0x0a
    ) {
      throw new LayerFormatError({ reason: 'malformed PAX record', offset });
    }
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new LayerFormatError({ reason: 'PAX record without key', offset });
    records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    pos += length;
  }
  return records;
}

function paxTime(value: string, offset: number): { sec: number; nsec: number } {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(value);
  if (!m) throw new LayerFormatError({ reason: `bad PAX time ${JSON.stringify(value)}`, offset });
  const sec = parseInt(m[2] as string, 10) * (m[1] ? -1 : 1);
  const nsec = parseInt(((m[3] ?? '') + '000000000').slice(0, 9), 10);
  return { sec, nsec };
}

function paxXattrs(pax: ReadonlyMap<string, Buffer>): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      const name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
      xattrs.set(name, Buffer.from(value.toString('latin1'), 'base64'));
    }
  }
  return xattrs;
}

/**
 * Reads a tar stream (ustar, PAX, GNU long names, base-256 numbers) entry by entry. Each entry's
 * `body` yields exactly its `size` bytes; whatever the consumer leaves unread is skipped before the
 * next entry. After the end-of-archive blocks the rest of the input is drained, so a digest taken
 * over the input covers the whole stream. Throws LayerFormatError for corrupt or unsupported input.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ entry: TarEntry; body: AsyncIterable<Buffer> }> {
  const input = new ByteStream(source);
  const truncated = (what: string) => (): Error =>
    new LayerFormatError({ reason: `input ends inside ${what}`, offset: input.offset });
  let globals = new Map<string, Buffer>();
  let local = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const at = input.offset;
    const header = await input.read(block, truncated('a header'));
    if (!header) return;
    if (header.every((b) => b === 0)) {
      await input.drain();
      return;
    }
    if (!checksumOk(header)) throw new LayerFormatError({ reason: 'header checksum mismatch', offset: at });
    const flag = String.fromCharCode(header[156] as number);
    const pax = new Map([...globals, ...local]);
    const extended = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    // PAX `size` describes the next member, never an extended header itself.
    const sizeRecord = extended ? undefined : pax.get('size');
    const size = sizeRecord ? parseInt(sizeRecord.toString('latin1'), 10) : numeric(header, 124, 12, at);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new LayerFormatError({ reason: 'bad entry size', offset: at });
    const padded = Math.ceil(size / block) * block;
    if (extended) {
      const data = (await input.read(padded, truncated('an extended header'))) ?? Buffer.alloc(0);
      const content = data.subarray(0, size);
      if (flag === 'x') local = parsePax(content, at);
      else if (flag === 'g') globals = new Map([...globals, ...parsePax(content, at)]);
      else if (flag === 'L') longName = cString(content, 0, content.length);
      else longLink = cString(content, 0, content.length);
      continue;
    }
    const type = typeFlags[flag];
    if (!type)
      throw new LayerFormatError({ reason: `unsupported entry type ${JSON.stringify(flag)}`, offset: at });
    const ustar = header.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = ustar ? cString(header, 345, 155) : '';
    const fieldName = cString(header, 0, 100);
    const text = (key: string): string | undefined => pax.get(key)?.toString('utf8');
    const id = (key: string, start: number): number => {
      const value = text(key);
      return value !== undefined ? parseInt(value, 10) : numeric(header, start, 8, at);
    };
    const mtimeText = text('mtime');
    const entry: TarEntry = {
      name: text('path') ?? longName ?? (prefix ? `${prefix}/${fieldName}` : fieldName),
      type,
      mode: numeric(header, 100, 8, at) & 0o7777,
      uid: id('uid', 108),
      gid: id('gid', 116),
      size: type === 'file' ? size : 0,
      mtime:
        mtimeText !== undefined ? paxTime(mtimeText, at) : { sec: numeric(header, 136, 12, at), nsec: 0 },
      linkname: text('linkpath') ?? longLink ?? cString(header, 157, 100),
      devmajor: type === 'char' || type === 'block' ? numeric(header, 329, 8, at) : 0,
      devminor: type === 'char' || type === 'block' ? numeric(header, 337, 8, at) : 0,
      xattrs: paxXattrs(pax),
    };
    if ([...pax.keys()].some((k) => k.startsWith('GNU.sparse.'))) {
      throw new LayerFormatError({
        reason: `sparse entry ${JSON.stringify(entry.name)} is not supported`,
        offset: at,
      });
    }
    local = new Map();
    longName = undefined;
    longLink = undefined;
    let consumed = 0;
    const body = (async function* () {
      for await (const piece of input.take(size, truncated(`the body of ${JSON.stringify(entry.name)}`))) {
        consumed += piece.length;
        yield piece;
      }
    })();
    yield { entry, body };
    if (consumed < padded) {
      for await (const _ of input.take(padded - consumed, truncated('entry padding'))) void _;
    }
  }
}
