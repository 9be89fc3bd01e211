import { toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  BuildOpSchema,
  DiffOpSchema,
  ExecOpSchema,
  ExportCacheSchema,
  FileOpSchema,
  InputSchema,
  LinuxResourcesSchema,
  LocationsSchema,
  MergeOpSchema,
  PassthroughOpSchema,
  PlatformSchema,
  ProgressGroupSchema,
  WorkerConstraintsSchema,
  type Definition,
  type Op,
  type OpMetadata,
  type Source,
  type SourceInfo,
  type SourceOp,
} from '../proto/gen/pb/ops_pb.js';

// Deterministic protobuf encoding of LLB, byte for byte what BuildKit's Go marshaller writes:
// fields in number order and proto3 zero scalars omitted (protobuf-es does both for the leaf
// messages), and maps, which protobuf-es writes in JS object-key order (integer-like keys first),
// written here with keys sorted as UTF-8 bytes and both entry fields always present, as gogo's
// stable marshaller does. Every message that holds a map, or holds one that does, is written here.

const LEN = WireType.LengthDelimited;

function sortedKeys(record: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(record)
    .map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((e) => e.key);
}

function writeStringMap(w: BinaryWriter, field: number, map: Readonly<Record<string, string>>): void {
  for (const key of sortedKeys(map)) {
    w.tag(field, LEN)
      .fork()
      .tag(1, LEN)
      .string(key)
      .tag(2, LEN)
      .string(map[key] ?? '')
      .join();
  }
}

function writeMessageMap<T>(
  w: BinaryWriter,
  field: number,
  map: Readonly<Record<string, T>>,
  encode: (value: T) => Uint8Array,
): void {
  for (const key of sortedKeys(map)) {
    const value = map[key] as T;
    w.tag(field, LEN).fork().tag(1, LEN).string(key).tag(2, LEN).bytes(encode(value)).join();
  }
}

function encodeSourceOp(op: SourceOp): Uint8Array {
  const w = new BinaryWriter();
  if (op.identifier !== '') w.tag(1, LEN).string(op.identifier);
  writeStringMap(w, 2, op.attrs);
  return w.finish();
}

/** An `Op` as Go writes it; the digest of an op is sha256 over exactly these bytes. */
export function encodeOp(op: Op): Uint8Array {
  const w = new BinaryWriter();
  for (const input of op.inputs) w.tag(1, LEN).bytes(toBinary(InputSchema, input));
  const body = op.op;
  switch (body.case) {
    case 'exec':
      w.tag(2, LEN).bytes(toBinary(ExecOpSchema, body.value));
      break;
    case 'source':
      w.tag(3, LEN).bytes(encodeSourceOp(body.value));
      break;
    case 'file':
      w.tag(4, LEN).bytes(toBinary(FileOpSchema, body.value));
      break;
    case 'build':
      // Not produced by the builder; its maps keep protobuf-es order.
      w.tag(5, LEN).bytes(toBinary(BuildOpSchema, body.value));
      break;
    case 'merge':
      w.tag(6, LEN).bytes(toBinary(MergeOpSchema, body.value));
      break;
    case 'diff':
      w.tag(7, LEN).bytes(toBinary(DiffOpSchema, body.value));
      break;
    case 'passthrough':
      w.tag(8, LEN).bytes(toBinary(PassthroughOpSchema, body.value));
      break;
    case undefined:
      break;
  }
  if (op.platform) w.tag(10, LEN).bytes(toBinary(PlatformSchema, op.platform));
  if (op.constraints) w.tag(11, LEN).bytes(toBinary(WorkerConstraintsSchema, op.constraints));
  return w.finish();
}

export function encodeOpMetadata(md: OpMetadata): Uint8Array {
  const w = new BinaryWriter();
  if (md.ignoreCache) w.tag(1, WireType.Varint).bool(true);
  writeStringMap(w, 2, md.description);
  if (md.exportCache) w.tag(4, LEN).bytes(toBinary(ExportCacheSchema, md.exportCache));
  for (const key of sortedKeys(md.caps)) {
    w.tag(5, LEN)
      .fork()
      .tag(1, LEN)
      .string(key)
      .tag(2, WireType.Varint)
      .bool(md.caps[key] === true)
      .join();
  }
  if (md.progressGroup) w.tag(6, LEN).bytes(toBinary(ProgressGroupSchema, md.progressGroup));
  if (md.linuxResources) w.tag(7, LEN).bytes(toBinary(LinuxResourcesSchema, md.linuxResources));
  return w.finish();
}

function encodeSourceInfo(info: SourceInfo): Uint8Array {
  const w = new BinaryWriter();
  if (info.filename !== '') w.tag(1, LEN).string(info.filename);
  if (info.data.length > 0) w.tag(2, LEN).bytes(info.data);
  if (info.definition) w.tag(3, LEN).bytes(encodeDefinition(info.definition));
  if (info.language !== '') w.tag(4, LEN).string(info.language);
  return w.finish();
}

function encodeSource(source: Source): Uint8Array {
  const w = new BinaryWriter();
  writeMessageMap(w, 1, source.locations, (v) => toBinary(LocationsSchema, v));
  for (const info of source.infos) w.tag(2, LEN).bytes(encodeSourceInfo(info));
  return w.finish();
}

/**
 * A whole `Definition` as Go's `Definition.Marshal` writes it. `def` entries are copied as they
 * are (never re-encoded), so digests survive; only metadata and source maps are written anew.
 */
export function encodeDefinition(def: Definition): Uint8Array {
  const w = new BinaryWriter();
  for (const op of def.def) w.tag(1, LEN).bytes(op);
  writeMessageMap(w, 2, def.metadata, encodeOpMetadata);
  if (def.Source) w.tag(3, LEN).bytes(encodeSource(def.Source));
  return w.finish();
}
