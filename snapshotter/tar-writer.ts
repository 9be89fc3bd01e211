import type { TarEntryType } from './tar-reader.js';

/** What the writer needs to know about one member; names are relative, without a trailing slash. */
export interface TarHeaderInput {
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds: layers carry no sub-second times, so equal trees give equal bytes. */
  readonly mtime: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Buffer>;
}

const block = 512;
const typeFlag: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Two zero blocks end an archive. */
export const tarTrailer: Buffer = Buffer.alloc(2 * block);

/** Zeros that pad a body of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((block - (size % block)) % block);
}

/** `"<len> <key>=<value>\n"`, where len counts the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // space, '=', newline
  let digits = String(rest).length;
  while (String(rest + digits).length !== digits) digits++;
  return Buffer.concat([Buffer.from(`${rest + digits} ${key}=`), value, Buffer.from('\n')]);
}

/** Writes `value` as octal into `length - 1` digits plus NUL; false when it does not fit. */
function octal(buf: Buffer, start: number, length: number, value: number): boolean {
  const text = Math.max(0, Math.floor(value)).toString(8);
  if (text.length > length - 1 || value < 0) return false;
  buf.write(text.padStart(length - 1, '0'), start, 'latin1');
  buf[start + length - 1] = 0;
  return true;
}

/** Big-endian base-256 with the high bit set, for numbers octal cannot hold (device numbers). */
function base256(buf: Buffer, start: number, length: number, value: number): void {
  let v = value;
  for (let i = start + length - 1; i > start; i--) {
    buf[i] = v % 256;
    v = Math.floor(v / 256);
  }
  buf[start] = 0x80;
}

/** Splits a long name into ustar prefix (≤155 bytes) and name (≤100 bytes) at a slash, if possible. */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return undefined;
    if (rest !== '' && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  return undefined;
}

function ustar(fields: {
  name: string;
  prefix: string;
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const h = Buffer.alloc(block);
  h.write(fields.name, 0, 100, 'utf8');
  octal(h, 100, 8, fields.mode);
  octal(h, 108, 8, fields.uid);
  octal(h, 116, 8, fields.gid);
  octal(h, 124, 12, fields.size);
  octal(h, 136, 12, fields.mtime);
  h.write(fields.flag, 156, 1, 'latin1');
  h.write(fields.linkname, 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  if (fields.flag === '3' || fields.flag === '4') {
    if (!octal(h, 329, 8, fields.devmajor)) base256(h, 329, 8, fields.devmajor);
    if (!octal(h, 337, 8, fields.devminor)) base256(h, 337, 8, fields.devminor);
  }
  h.write(fields.prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/**
 * The header block(s) of one member: a PAX extended header first only when something does not fit
 * ustar (long names or link names, ids over 2097151, sizes from 8 GiB, times outside the octal
 * range, xattrs), then the ustar header. Deterministic: no atime or ctime, empty user and group
 * names, PAX records in key order, xattr values written as raw bytes.
 */
export function tarHeader(input: TarHeaderInput): Buffer {
  const name = input.type === 'dir' ? `${input.name}/` : input.name;
  const linkname = input.linkname ?? '';
  const pax = new Map<string, Buffer>();
  const split = splitName(name);
  if (!split) pax.set('path', Buffer.from(name));
  if (Buffer.byteLength(linkname) > 100) pax.set('linkpath', Buffer.from(linkname));
  const fits = (value: number, digits: number) => value >= 0 && value < 8 ** digits;
  if (!fits(input.uid, 7)) pax.set('uid', Buffer.from(String(input.uid)));
  if (!fits(input.gid, 7)) pax.set('gid', Buffer.from(String(input.gid)));
  if (!fits(input.size, 11)) pax.set('size', Buffer.from(String(input.size)));
  if (!fits(input.mtime, 11)) pax.set('mtime', Buffer.from(String(input.mtime)));
  for (const [key, value] of input.xattrs ?? []) pax.set(`SCHILY.xattr.${key}`, value);
  const header = ustar({
    name: split?.name ?? name.slice(0, 100),
    prefix: split?.prefix ?? '',
    flag: typeFlag[input.type],
    mode: input.mode & 0o7777,
    uid: fits(input.uid, 7) ? input.uid : 0,
    gid: fits(input.gid, 7) ? input.gid : 0,
    size: fits(input.size, 11) ? input.size : 0,
    mtime: fits(input.mtime, 11) ? input.mtime : 0,
    linkname: Buffer.byteLength(linkname) > 100 ? linkname.slice(0, 100) : linkname,
    devmajor: input.devmajor ?? 0,
    devminor: input.devminor ?? 0,
  });
  if (pax.size === 0) return header;
  const records = Buffer.concat([...pax.keys()].sort().map((key) => paxRecord(key, pax.get(key) as Buffer)));
  const slash = name.replace(/\/$/, '').lastIndexOf('/');
  const paxName = `${slash === -1 ? '' : name.slice(0, slash + 1)}PaxHeaders.0/${name.replace(/\/$/, '').slice(slash + 1)}`;
  const paxHeader = ustar({
    name: Buffer.from(paxName)
      .subarray(0, 100)
      .toString('utf8')
      .replace(/\uFFFD$/, ''),
    prefix: '',
    flag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, records, tarPadding(records.length), header]);
}
