import type { UsageRecord } from '../../proto/gen/moby/buildkit/v1/control_pb.js';
import { GoNilSlice, GoStruct, GoTime } from '../format/go-json.js';
import { tabwrite } from '../format/tabwriter.js';
import { formatBytes } from '../format/units.js';

/** The tabwriter buildctl prints usage tables with (minwidth 1, tabwidth 8, padding 1, tabs). */
export const usageTable = (text: string): string =>
  tabwrite(text, { minWidth: 1, tabWidth: 8, padding: 1, padChar: '\t' });

const zeroTime = new GoTime(-62135596800n, 0);

/** A UsageRecord as BuildKit's client.UsageInfo, for `--format` templates and JSON. */
export function usageStruct(r: UsageRecord): GoStruct {
  return new GoStruct([
    { name: 'ID', json: 'id', value: r.ID },
    { name: 'Mutable', json: 'mutable', value: r.Mutable },
    { name: 'InUse', json: 'inUse', value: r.InUse },
    { name: 'Size', json: 'size', value: r.Size },
    {
      name: 'CreatedAt',
      json: 'createdAt',
      value: r.CreatedAt ? GoTime.fromTimestamp(r.CreatedAt) : zeroTime,
    },
    {
      name: 'LastUsedAt',
      json: 'lastUsedAt',
      value: r.LastUsedAt ? GoTime.fromTimestamp(r.LastUsedAt) : null,
    },
    { name: 'UsageCount', json: 'usageCount', value: Number(r.UsageCount) },
    { name: 'Parents', json: 'parents', value: r.Parents.length > 0 ? [...r.Parents] : GoNilSlice.instance },
    { name: 'Description', json: 'description', value: r.Description },
    { name: 'RecordType', json: 'recordType', value: r.RecordType },
    { name: 'Shared', json: 'shared', value: r.Shared },
  ]);
}

export const usageTableHeader = 'ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\n';

/** One table row: `%-71s\t%-11v\t%s\t` with `*` marking mutable ids and shared sizes. */
export function usageTableRow(r: UsageRecord): string {
  const id = r.ID + (r.Mutable ? '*' : '');
  const size = formatBytes(r.Size) + (r.Shared ? '*' : '');
  return `${id.padEnd(71)}\t${String(!r.InUse).padEnd(11)}\t${size}\t\n`;
}

/** The verbose block of one record (unaligned; run it through usageTable). */
export function usageVerbose(r: UsageRecord): string {
  const kv = (k: string, v: string | number | boolean): string => `${k}:\t${v}\n`;
  let out = kv('ID', r.ID);
  const parents = r.Parents.length > 0 ? r.Parents : [];
  if (parents.length > 0) out += kv('Parents', parents.join(';'));
  out += kv('Created at', (r.CreatedAt ? GoTime.fromTimestamp(r.CreatedAt) : zeroTime).toString());
  out += kv('Mutable', r.Mutable);
  out += kv('Reclaimable', !r.InUse);
  out += kv('Shared', r.Shared);
  out += kv('Size', formatBytes(r.Size));
  if (r.Description) out += kv('Description', r.Description);
  out += kv('Usage count', Number(r.UsageCount));
  if (r.LastUsedAt) out += kv('Last used', GoTime.fromTimestamp(r.LastUsedAt).toString());
  if (r.RecordType) out += kv('Type', r.RecordType);
  return out + '\n';
}

/** The summary lines after `du` (Shared/Private only when something is shared). */
export function usageSummary(records: readonly UsageRecord[]): string {
  let total = 0;
  let reclaimable = 0;
  let shared = 0;
  for (const r of records) {
    const size = Number(r.Size);
    if (size > 0) {
      total += size;
      if (!r.InUse) reclaimable += size;
    }
    if (r.Shared) shared += size;
  }
  let out = '';
  if (shared > 0) out += `Shared:\t${formatBytes(shared)}\nPrivate:\t${formatBytes(total - shared)}\n`;
  out += `Reclaimable:\t${formatBytes(reclaimable)}\nTotal:\t${formatBytes(total)}\n`;
  return out;
}
