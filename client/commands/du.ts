import type { Command } from '../cli/command.js';
import { daemonError } from '../daemon-error.js';
import { GoTemplate } from '../format/go-template.js';
import {
  usageStruct,
  usageSummary,
  usageTable,
  usageTableHeader,
  usageTableRow,
  usageVerbose,
} from './usage-format.js';

/** `kilnctl du [-v] [--filter f] [--format tmpl]`: cache records and their sizes. */
export const duCommand: Command = {
  name: 'du',
  usage: 'disk usage',
  flags: [
    { name: 'filter', aliases: ['f'], kind: 'strings', usage: 'Filter records' },
    { name: 'verbose', aliases: ['v'], kind: 'bool', usage: 'Verbose output' },
    {
      name: 'format',
      kind: 'string',
      usage: "Format the output using the given Go template, e.g, '{{json .}}'",
    },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const filter = ctx.flags.strings('filter');
    const { record } = await client.control.diskUsage(filter).catch((err: unknown) => {
      throw daemonError(err, 'Control.DiskUsage', 'failed to call diskusage');
    });
    const format = ctx.flags.string('format');
    if (format !== '') {
      ctx.stdout.write(new GoTemplate(format).execute(record.map(usageStruct)) + '\n');
      return;
    }
    if (ctx.flags.bool('verbose')) ctx.stdout.write(usageTable(record.map(usageVerbose).join('')));
    else ctx.stdout.write(usageTable(usageTableHeader + record.map(usageTableRow).join('')));
    if (filter.length === 0) ctx.stdout.write(usageTable(usageSummary(record)));
  },
};
