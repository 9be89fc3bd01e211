import { toJson } from '@bufbuild/protobuf';
import {
  BuildHistoryRecordSchema,
  type BuildHistoryRecord,
} from '../../proto/gen/moby/buildkit/v1/control_pb.js';
import type { Command, CommandContext } from '../cli/command.js';
import { ClientUsageError } from '../errors.js';
import { GoTime } from '../format/go-json.js';
import { tabwrite } from '../format/tabwriter.js';
import { ProgressDisplay } from '../progress/index.js';

const codeNames: Record<number, string> = { 1: 'canceled' };

function status(r: BuildHistoryRecord): string {
  if (!r.CompletedAt) return 'running';
  if (r.error && r.error.code !== 0) return codeNames[r.error.code] ?? 'error';
  return 'completed';
}

function seconds(ts: { seconds: bigint; nanos: number } | undefined): number | undefined {
  return ts ? Number(ts.seconds) + ts.nanos / 1e9 : undefined;
}

function duration(r: BuildHistoryRecord): string {
  const start = seconds(r.CreatedAt);
  const end = seconds(r.CompletedAt) ?? Date.now() / 1000;
  return start === undefined ? '' : `${(end - start).toFixed(1)}s`;
}

function time(ts: { seconds: bigint; nanos: number } | undefined): string {
  return ts ? GoTime.fromTimestamp(ts).rfc3339Nano() : '';
}

async function records(ctx: CommandContext, ref?: string): Promise<BuildHistoryRecord[]> {
  const client = await ctx.client();
  const out = new Map<string, BuildHistoryRecord>();
  for await (const event of client.history({
    earlyExit: true,
    ...(ref ? { ref } : {}),
    signal: ctx.signal,
  })) {
    if (!event.record) continue;
    if (event.type === 2) out.delete(event.record.Ref);
    else out.set(event.record.Ref, event.record);
  }
  return [...out.values()];
}

function requireRef(ctx: CommandContext): string {
  const ref = ctx.flags.args[0];
  if (!ref) throw new ClientUsageError({ message: 'build ref must be specified' });
  return ref;
}

const formatFlag = { name: 'format', kind: 'string', usage: 'Format the output: json' } as const;

/** `kilnctl history ls`: the daemon's build records, oldest first. */
const historyLs: Command = {
  name: 'ls',
  usage: 'list build records',
  flags: [formatFlag],
  async run(ctx) {
    const list = (await records(ctx)).sort(
      (a, b) => (seconds(a.CreatedAt) ?? 0) - (seconds(b.CreatedAt) ?? 0),
    );
    if (ctx.flags.string('format') === 'json') {
      ctx.stdout.write(
        JSON.stringify(
          list.map((r) => toJson(BuildHistoryRecordSchema, r)),
          null,
          2,
        ) + '\n',
      );
      return;
    }
    let text = 'REF\tFRONTEND\tSTATUS\tCREATED AT\tDURATION\tSTEPS\n';
    for (const r of list) {
      const steps = `${r.numCompletedSteps}/${r.numTotalSteps} (${r.numCachedSteps} cached)`;
      text += `${r.Ref}\t${r.Frontend || '-'}\t${status(r)}${r.pinned ? ' (pinned)' : ''}\t${time(r.CreatedAt)}\t${duration(r)}\t${steps}\n`;
    }
    ctx.stdout.write(tabwrite(text, { minWidth: 0, tabWidth: 8, padding: 3, padChar: ' ' }));
  },
};

/** `kilnctl history inspect REF`: one build record in detail. */
const historyInspect: Command = {
  name: 'inspect',
  usage: 'show one build record',
  argsUsage: '<ref>',
  flags: [formatFlag],
  async run(ctx) {
    const ref = requireRef(ctx);
    const [r] = await records(ctx, ref);
    if (!r) throw new ClientUsageError({ message: `ref ${ref} not found` });
    if (ctx.flags.string('format') === 'json') {
      ctx.stdout.write(JSON.stringify(toJson(BuildHistoryRecordSchema, r), null, 2) + '\n');
      return;
    }
    let text = `Ref:\t${r.Ref}\nFrontend:\t${r.Frontend || '-'}\nStatus:\t${status(r)}\n`;
    if (r.error && r.error.code !== 0) text += `Error:\t${r.error.message}\n`;
    text += `Created at:\t${time(r.CreatedAt)}\n`;
    if (r.CompletedAt) text += `Completed at:\t${time(r.CompletedAt)}\n`;
    text += `Duration:\t${duration(r)}\n`;
    text += `Steps:\t${r.numTotalSteps} total, ${r.numCompletedSteps} completed, ${r.numCachedSteps} cached\n`;
    text += `Pinned:\t${r.pinned}\n`;
    for (const [k, v] of Object.entries(r.FrontendAttrs).sort()) text += `Frontend attr:\t${k}=${v}\n`;
    for (const e of r.Exporters) {
      const attrs = Object.entries(e.Attrs)
        .sort()
        .map(([k, v]) => `${k}=${v}`);
      text += `Exporter:\t${[e.Type, ...attrs].join(',')}\n`;
    }
    for (const [k, v] of Object.entries(r.ExporterResponse).sort()) text += `Exporter response:\t${k}=${v}\n`;
    if (r.Result?.Result) text += `Result:\t${r.Result.Result.digest} (${r.Result.Result.mediaType})\n`;
    for (const [platform, res] of Object.entries(r.Results).sort()) {
      if (res.Result) text += `Result ${platform}:\t${res.Result.digest}\n`;
    }
    if (r.logs) text += `Logs:\t${r.logs.digest} (${r.logs.size} bytes)\n`;
    ctx.stdout.write(tabwrite(text, { minWidth: 0, tabWidth: 8, padding: 1, padChar: ' ' }));
  },
};

/** `kilnctl history logs REF` (also `debug logs`): replays a build's progress via `Control.Status`. */
export const historyLogs: Command = {
  name: 'logs',
  usage: 'display build logs',
  argsUsage: '<ref>',
  flags: [{ name: 'progress', kind: 'string', usage: 'progress output type', default: 'auto' }],
  async run(ctx) {
    const ref = requireRef(ctx);
    const client = await ctx.client();
    const display = new ProgressDisplay({
      mode: ctx.flags.string('progress'),
      output: ctx.stdout,
      noColor: !!ctx.env['NO_COLOR'],
    });
    try {
      for await (const s of client.status(ref, { signal: ctx.signal })) display.update(s);
    } finally {
      display.finish();
    }
  },
};

/** `kilnctl debug ctl REF --pin|--unpin|--delete`. */
export const debugCtl: Command = {
  name: 'ctl',
  usage: 'control build records',
  argsUsage: '<ref>',
  flags: [
    { name: 'pin', kind: 'bool', usage: 'Pin build so it will not be garbage collected' },
    { name: 'unpin', kind: 'bool', usage: 'Unpin build so it will be garbage collected' },
    { name: 'delete', kind: 'bool', usage: 'Delete build record' },
  ],
  async run(ctx) {
    const ref = requireRef(ctx);
    const [pin, unpin, del] = [ctx.flags.bool('pin'), ctx.flags.bool('unpin'), ctx.flags.bool('delete')];
    if (!pin && !unpin && !del)
      throw new ClientUsageError({ message: 'must specify one of --pin, --unpin, --delete' });
    if (pin && unpin) throw new ClientUsageError({ message: 'cannot specify both --pin and --unpin' });
    if (del && (pin || unpin))
      throw new ClientUsageError({ message: 'cannot specify --delete with --pin or --unpin' });
    const client = await ctx.client();
    await client.updateHistory(ref, { pinned: pin, delete: del });
  },
};

export const historyCommand: Command = {
  name: 'history',
  usage: 'inspect the daemon build history',
  subcommands: [historyLs, historyInspect, historyLogs],
};
