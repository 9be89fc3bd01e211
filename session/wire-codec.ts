import { toBinary } from '@bufbuild/protobuf';
import type { BytesMessage } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { StatSchema, type Stat } from '../proto/gen/fsutil/types/stat_pb.js';
import { Packet_PacketType as PacketType } from '../proto/gen/fsutil/types/wire_pb.js';

/**
 * Hand-written codecs for the messages every transfer passes through in bulk: `BytesMessage` of
 * the tunnel and `fsutil.types.Packet` (every byte), `fsutil.types.Stat` (one per file). The
 * reflection-based generated codecs cost more CPU than the rest of the pipeline together. Same
 * wire format as the generated codecs (session.test.ts checks both ways); STATs are still encoded
 * by the generated codec (only tests and FileSend's rare sender encode them).
 */

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++] as number;
    if (shift < 28) value |= (byte & 0x7f) << shift;
    else value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

/** An int64 varint as a bigint (negative values are ten bytes of two's complement). */
function readVarint64(buf: Uint8Array, pos: number): [value: bigint, next: number] {
  let low = 0;
  let shift = 0;
  for (; shift < 28; shift += 7) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++] as number;
    low |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [BigInt(low), pos];
  }
  let high = 0n;
  for (let highShift = 0n; ; highShift += 7n) {
    if (pos >= buf.length) throw new Error('truncated varint');
    if (highShift > 35n) throw new Error('varint too long');
    const byte = buf[pos++] as number;
    high |= BigInt(byte & 0x7f) << highShift;
    if ((byte & 0x80) === 0) break;
  }
  return [BigInt.asIntN(64, (high << 28n) | BigInt(low)), pos];
}

function readLengthDelimited(buf: Uint8Array, pos: number): [start: number, end: number] {
  const [length, start] = readVarint(buf, pos);
  const end = start + length;
  if (end > buf.length) throw new Error('truncated field');
  return [start, end];
}

const utf8 = new TextDecoder();

/** A length-delimited UTF-8 field. */
function readString(buf: Uint8Array, pos: number): [value: string, next: number] {
  const [start, end] = readLengthDelimited(buf, pos);
  return [utf8.decode(buf.subarray(start, end)), end];
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

function skipField(buf: Uint8Array, pos: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return readVarint(buf, pos)[1];
    case 1:
      return pos + 8;
    case 2: {
      const [length, next] = readVarint(buf, pos);
      return next + length;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`unsupported wire type ${wireType}`);
  }
}

/** Decodes the `data` of a BytesMessage as a view of `buf` (no copy). */
export function decodeBytes(buf: Uint8Array): Uint8Array {
  let pos = 0;
  let data: Uint8Array = new Uint8Array(0);
  while (pos < buf.length) {
    const [tag, next] = readVarint(buf, pos);
    pos = next;
    if (tag === 0x0a) {
      const [length, start] = readVarint(buf, pos);
      data = buf.subarray(start, start + length);
      pos = start + length;
    } else pos = skipField(buf, pos, tag & 7);
  }
  return data;
}

/** Encodes `{ data }` as a BytesMessage (any of the three packages' identical shapes). */
export function encodeBytes(data: Uint8Array): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(1 + varintLength(data.length) + data.length);
  out[0] = 0x0a;
  const pos = writeVarint(out, 1, data.length);
  out.set(data, pos);
  return out;
}

/** Decodes an `fsutil.types.Stat` (the shape protobuf-es would give, without its reflection). */
export function decodeStat(buf: Uint8Array): Stat {
  const stat: Stat = {
    $typeName: 'fsutil.types.Stat',
    path: '',
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0n,
    modTime: 0n,
    linkname: '',
    devmajor: 0n,
    devminor: 0n,
    xattrs: {},
  };
  let pos = 0;
  while (pos < buf.length) {
    const [tag, next] = readVarint(buf, pos);
    pos = next;
    let start: number;
    switch (tag) {
      case 0x0a:
        [stat.path, pos] = readString(buf, pos);
        break;
      case 0x10:
        [stat.mode, pos] = readUint32(buf, pos);
        break;
      case 0x18:
        [stat.uid, pos] = readUint32(buf, pos);
        break;
      case 0x20:
        [stat.gid, pos] = readUint32(buf, pos);
        break;
      case 0x28:
        [stat.size, pos] = readVarint64(buf, pos);
        break;
      case 0x30:
        [stat.modTime, pos] = readVarint64(buf, pos);
        break;
      case 0x3a:
        [stat.linkname, pos] = readString(buf, pos);
        break;
      case 0x40:
        [stat.devmajor, pos] = readVarint64(buf, pos);
        break;
      case 0x48:
        [stat.devminor, pos] = readVarint64(buf, pos);
        break;
      case 0x52:
        [start, pos] = readLengthDelimited(buf, pos);
        readXattr(buf.subarray(start, pos), stat.xattrs);
        break;
      default:
        pos = skipField(buf, pos, tag & 7);
    }
  }
  if (pos > buf.length) throw new Error('truncated Stat');
  return stat;
}

/** A uint32 field: varints beyond 32 bits keep their low 32, as protobuf decoders do. */
function readUint32(buf: Uint8Array, pos: number): [value: number, next: number] {
  const read = readVarint(buf, pos);
  if (read[0] <= 0xffffffff) return read;
  const [value, next] = readVarint64(buf, pos);
  return [Number(BigInt.asUintN(32, value)), next];
}

/** One `map<string, bytes>` entry (key 1, value 2) into `into`. */
function readXattr(buf: Uint8Array, into: Record<string, Uint8Array>): void {
  let key = '';
  let value = new Uint8Array(0);
  let pos = 0;
  while (pos < buf.length) {
    const [tag, next] = readVarint(buf, pos);
    pos = next;
    let start: number;
    if (tag === 0x0a) {
      [key, pos] = readString(buf, pos);
    } else if (tag === 0x12) {
      [start, pos] = readLengthDelimited(buf, pos);
      value = buf.slice(start, pos);
    } else pos = skipField(buf, pos, tag & 7);
  }
  into[key] = value;
}

/** grpc-js (de)serializers for `Control.Session` that skip reflection; messages keep the protobuf-es shape. */
export const bytesMessageCodec = {
  serialize: (message: BytesMessage): Buffer => encodeBytes(message.data),
  deserialize: (buf: Buffer): BytesMessage => ({
    $typeName: 'moby.buildkit.v1.BytesMessage',
    data: decodeBytes(buf),
  }),
};

/** A decoded fsutil packet; `data` is a view of the input. */
export interface WirePacket {
  type: PacketType;
  stat: Stat | undefined;
  ID: number;
  data: Uint8Array;
}

export function decodePacket(buf: Uint8Array): WirePacket {
  const packet: WirePacket = {
    type: PacketType.PACKET_STAT,
    stat: undefined,
    ID: 0,
    data: new Uint8Array(0),
  };
  let pos = 0;
  while (pos < buf.length) {
    const [tag, next] = readVarint(buf, pos);
    pos = next;
    switch (tag) {
      case 0x08:
        [packet.type, pos] = readVarint(buf, pos);
        break;
      case 0x12: {
        const [start, end] = readLengthDelimited(buf, pos);
        packet.stat = decodeStat(buf.subarray(start, end));
        pos = end;
        break;
      }
      case 0x18:
        [packet.ID, pos] = readVarint(buf, pos);
        break;
      case 0x22: {
        const [length, start] = readVarint(buf, pos);
        packet.data = buf.subarray(start, start + length);
        pos = start + length;
        break;
      }
      default:
        pos = skipField(buf, pos, tag & 7);
    }
  }
  return packet;
}

export function encodePacket(packet: {
  type: PacketType;
  ID?: number;
  data?: Uint8Array;
  stat?: Stat;
}): Buffer {
  const stat = packet.stat ? toBinary(StatSchema, packet.stat) : undefined;
  const id = packet.ID ?? 0;
  const data = packet.data;
  let size = 0;
  if (packet.type !== 0) size += 1 + varintLength(packet.type);
  if (stat) size += 1 + varintLength(stat.length) + stat.length;
  if (id !== 0) size += 1 + varintLength(id);
  if (data?.length) size += 1 + varintLength(data.length) + data.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  if (packet.type !== 0) {
    out[pos++] = 0x08;
    pos = writeVarint(out, pos, packet.type);
  }
  if (stat) {
    out[pos++] = 0x12;
    pos = writeVarint(out, pos, stat.length);
    out.set(stat, pos);
    pos += stat.length;
  }
  if (id !== 0) {
    out[pos++] = 0x18;
    pos = writeVarint(out, pos, id);
  }
  if (data?.length) {
    out[pos++] = 0x22;
    pos = writeVarint(out, pos, data.length);
    out.set(data, pos);
  }
  return out;
}
