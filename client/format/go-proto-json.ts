import type { DescField, DescMessage, DescOneof, Message } from '@bufbuild/protobuf';
import { GoMap, RawJson, goJson } from './go-json.js';

/**
 * BuildKit's gogo-generated structs through Go's encoding/json (what `buildctl debug dump-llb`
 * prints): keys are the .proto field names, zero values are omitted except on the non-nullable
 * custom-typed fields below, a oneof appears under its Go field name (`Op`, `Action`, `User`)
 * wrapping `{"<case>": value}` or `null`, 64-bit integers are numbers, enums numbers, bytes base64.
 */
const alwaysEmitted = new Set([
  'pb.Input.digest',
  'pb.Input.index',
  'pb.Mount.input',
  'pb.Mount.output',
  'pb.BuildOp.builder',
  'pb.BuildInput.input',
  'pb.FileAction.input',
  'pb.FileAction.secondaryInput',
  'pb.FileAction.output',
  'pb.MergeInput.input',
  'pb.LowerDiffInput.input',
  'pb.UpperDiffInput.input',
  'pb.NamedUserOpt.input',
  'pb.Range.start',
  'pb.Range.end',
]);

function goFieldName(oneof: DescOneof): string {
  return oneof.name
    .split('_')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

function scalarValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return value;
  return value;
}

function isZero(value: unknown): boolean {
  return (
    value === undefined ||
    value === 0 ||
    value === 0n ||
    value === '' ||
    value === false ||
    (value instanceof Uint8Array && value.length === 0) ||
    (Array.isArray(value) && value.length === 0)
  );
}

function fieldValue(field: DescField, value: unknown): unknown {
  switch (field.fieldKind) {
    case 'message':
      return value === undefined ? undefined : new RawJson(goProtoJson(field.message, value as Message));
    case 'list':
      return (value as unknown[]).map((v) =>
        field.listKind === 'message' ? new RawJson(goProtoJson(field.message, v as Message)) : scalarValue(v),
      );
    case 'map': {
      const entries: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        entries[k] =
          field.mapKind === 'message'
            ? new RawJson(goProtoJson(field.message, v as Message))
            : scalarValue(v);
      }
      return new GoMap(entries);
    }
    default:
      return scalarValue(value);
  }
}

/** The Go JSON of one protobuf-es message, compact. */
export function goProtoJson(schema: DescMessage, message: Message): string {
  const out: Record<string, unknown> = {};
  const record = message as unknown as Record<string, unknown>;
  for (const member of schema.members) {
    if (member.kind === 'oneof') {
      const selected = record[member.localName] as { case?: string; value?: unknown };
      const field = member.fields.find((f) => f.localName === selected.case);
      if (!field) {
        out[goFieldName(member)] = null;
        continue;
      }
      const v = fieldValue(field, selected.value);
      out[goFieldName(member)] = isZero(v) ? {} : { [field.name]: v };
      continue;
    }
    const raw = record[member.localName];
    const keep = alwaysEmitted.has(`${schema.typeName}.${member.name}`);
    if (member.fieldKind === 'map' && Object.keys(raw as object).length === 0 && !keep) continue;
    if (member.fieldKind === 'message' && raw === undefined && !keep) continue;
    const v = fieldValue(member, raw);
    if (!keep && isZero(v)) continue;
    out[member.name] = v ?? {};
  }
  return goJson(out);
}
