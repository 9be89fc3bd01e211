import type { Command } from '../cli/command.js';
import { debugDumpLlbCommand } from './debug-dump-llb.js';
import { debugInfoCommand, debugWorkersCommand } from './debug-workers.js';
import { debugCtl, historyLogs } from './history.js';

/** `kilnctl debug …`: buildctl's debug group. */
export const debugCommand: Command = {
  name: 'debug',
  usage: 'debug utilities',
  subcommands: [debugDumpLlbCommand, debugWorkersCommand, debugInfoCommand, historyLogs, debugCtl],
};
