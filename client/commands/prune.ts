import type { Command } from '../cli/command.js';
import { daemonError } from '../daemon-error.js';
import { GoTemplate } from '../format/go-template.js';
import { formatBytes } from '../format/units.js';
import { usageStruct, usageTable, usageTableHeader, usageTableRow, usageVerbose } from './usage-format.js';

/** `kilnctl prune`: removes cache records, printing each as the daemon reports it. */
export const pruneCommand: Command = {
  name: 'prune',
  usage: 'clean up build cache',
  flags: [
    { name: 'keep-duration', kind: 'duration', usage: 'Keep data newer than this limit' },
    { name: 'keep-storage', kind: 'float', usage: 'Keep data below this limit (in MB)' },
    { name: 'filter', aliases: ['f'], kind: 'strings', usage: 'Filter records' },
    { name: 'all', kind: 'bool', usage: 'Include internal/frontend references' },
    { name: 'verbose', aliases: ['v'], kind: 'bool', usage: 'Verbose output' },
    {
      name: 'format',
      kind: 'string',
      usage: "Format the output using the given Go template, e.g, '{{json .}}'",
    },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const format = ctx.flags.string('format');
    const template = format !== '' ? new GoTemplate(format) : undefined;
    const verbose = ctx.flags.bool('verbose');
    let first = true;
    let total = 0;
    try {
      const stream = client.control.prune(
        {
          filter: ctx.flags.strings('filter'),
          all: ctx.flags.bool('all'),
          keepDuration: ctx.flags.duration('keep-duration'),
          keepBytes: BigInt(Math.trunc(ctx.flags.number('keep-storage') * 1e6)),
        },
        ctx.signal,
      );
      for await (const record of stream) {
        if (template) {
          ctx.stdout.write(template.execute(usageStruct(record)) + '\n');
          continue;
        }
        total += Number(record.Size);
        if (verbose) ctx.stdout.write(usageTable(usageVerbose(record)));
        else {
          ctx.stdout.write(usageTable((first ? usageTableHeader : '') + usageTableRow(record)));
          first = false;
        }
      }
    } catch (err) {
      throw daemonError(err, 'Control.Prune', 'failed to call prune');
    }
    if (!template) ctx.stdout.write(usageTable(`Total:\t${formatBytes(total)}\n`));
  },
};
