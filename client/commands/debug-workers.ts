import { formatPlatform } from '../../oci/index.js';
import type { WorkerRecord } from '../../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import type { Command } from '../cli/command.js';
import { daemonError } from '../daemon-error.js';
import { GoDuration, GoMap, GoNilSlice, GoStruct, formatGoDuration } from '../format/go-json.js';
import { GoTemplate } from '../format/go-template.js';
import { tabwrite } from '../format/tabwriter.js';
import { formatBytesShort } from '../format/units.js';

const table = (text: string): string =>
  tabwrite(text, { minWidth: 1, tabWidth: 8, padding: 1, padChar: '\t' });

function platforms(w: WorkerRecord): string {
  return w.platforms
    .map((p) =>
      formatPlatform({
        os: p.OS,
        architecture: p.Architecture,
        ...(p.Variant ? { variant: p.Variant } : {}),
      }),
    )
    .join(',');
}

/** A WorkerRecord as BuildKit's client.WorkerInfo (templates and JSON). */
function workerStruct(w: WorkerRecord): GoStruct {
  const s = (name: string, json: string, value: unknown, omitEmpty = false) => ({
    name,
    json,
    value,
    omitEmpty,
  });
  return new GoStruct([
    s('ID', 'id', w.ID),
    s('Labels', 'labels', new GoMap(w.Labels)),
    s(
      'Platforms',
      'platforms',
      w.platforms.map(
        (p) =>
          new GoStruct([
            s('Architecture', 'architecture', p.Architecture),
            s('OS', 'os', p.OS),
            s('OSVersion', 'os.version', p.OSVersion, true),
            s('OSFeatures', 'os.features', p.OSFeatures, true),
            s('Variant', 'variant', p.Variant, true),
          ]),
      ),
    ),
    s(
      'GCPolicy',
      'gcPolicy',
      w.GCPolicy.map(
        (g) =>
          new GoStruct([
            s('Filter', 'filter', g.filters.length > 0 ? [...g.filters] : GoNilSlice.instance),
            s('All', 'all', g.all),
            s('KeepDuration', 'keepDuration', new GoDuration(g.keepDuration)),
            s('KeepBytes', 'keepBytes', g.keepBytes),
          ]),
      ),
    ),
    s(
      'BuildkitVersion',
      'buildkitVersion',
      new GoStruct([
        s('Package', 'package', w.BuildkitVersion?.package ?? ''),
        s('Version', 'version', w.BuildkitVersion?.version ?? ''),
        s('Revision', 'revision', w.BuildkitVersion?.revision ?? ''),
      ]),
    ),
  ]);
}

function verbose(workers: readonly WorkerRecord[]): string {
  let out = '';
  for (const w of workers) {
    const v = w.BuildkitVersion;
    out += `ID:\t${w.ID}\nPlatforms:\t${platforms(w)}\n`;
    out += `BuildKit:\t${v?.package ?? ''} ${v?.version ?? ''} ${v?.revision ?? ''}\n`;
    out += 'Labels:\n';
    for (const k of Object.keys(w.Labels).sort()) out += `\t${k}:\t${w.Labels[k]}\n`;
    w.GCPolicy.forEach((rule, i) => {
      out += `GC Policy rule#${i}:\n\tAll:\t${rule.all}\n`;
      if (rule.filters.length > 0) out += `\tFilters:\t${rule.filters.join(' ')}\n`;
      if (rule.keepDuration > 0n) out += `\tKeep Duration:\t${formatGoDuration(rule.keepDuration)}\n`;
      if (rule.keepBytes > 0n) out += `\tKeep Bytes:\t${formatBytesShort(rule.keepBytes)}\n`;
    });
    out += '\n';
  }
  return out;
}

/** `kilnctl debug workers [-v] [--filter f] [--format tmpl]`. */
export const debugWorkersCommand: Command = {
  name: 'workers',
  usage: 'list workers',
  flags: [
    { name: 'filter', aliases: ['f'], kind: 'strings', usage: 'containerd-style filter string slice' },
    { name: 'verbose', aliases: ['v'], kind: 'bool', usage: 'Verbose output' },
    {
      name: 'format',
      kind: 'string',
      usage: "Format the output using the given Go template, e.g, '{{json .}}'",
    },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const { record } = await client.control.listWorkers(ctx.flags.strings('filter')).catch((err: unknown) => {
      throw daemonError(err, 'Control.ListWorkers', 'failed to list workers');
    });
    const format = ctx.flags.string('format');
    if (format !== '') ctx.stdout.write(new GoTemplate(format).execute(record.map(workerStruct)) + '\n');
    else if (ctx.flags.bool('verbose')) ctx.stdout.write(table(verbose(record)));
    else
      ctx.stdout.write(table('ID\tPLATFORMS\n' + record.map((w) => `${w.ID}\t${platforms(w)}\n`).join('')));
  },
};

/** `kilnctl debug info [--format tmpl]`: the daemon's version. */
export const debugInfoCommand: Command = {
  name: 'info',
  usage: 'display internal information',
  flags: [
    {
      name: 'format',
      kind: 'string',
      usage: "Format the output using the given Go template, e.g, '{{json .}}'",
    },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const resp = await client.control.info().catch((err: unknown) => {
      throw daemonError(err, 'Control.Info', 'failed to call info');
    });
    const v = resp.buildkitVersion;
    const format = ctx.flags.string('format');
    if (format !== '') {
      const version = new GoStruct([
        { name: 'Package', json: 'package', value: v?.package ?? '' },
        { name: 'Version', json: 'version', value: v?.version ?? '' },
        { name: 'Revision', json: 'revision', value: v?.revision ?? '' },
      ]);
      const info = new GoStruct([{ name: 'BuildkitVersion', json: 'buildkitVersion', value: version }]);
      ctx.stdout.write(new GoTemplate(format).execute(info) + '\n');
      return;
    }
    ctx.stdout.write(
      tabwrite(`BuildKit:\t${v?.package ?? ''} ${v?.version ?? ''} ${v?.revision ?? ''}\n`, {
        minWidth: 0,
        tabWidth: 0,
        padding: 1,
        padChar: ' ',
      }),
    );
  },
};
