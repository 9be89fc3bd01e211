import { tabwrite } from '../format/tabwriter.js';
import type { Command } from './command.js';
import type { FlagSpec } from './flags.js';

const columns = (text: string): string =>
  tabwrite(text, { minWidth: 0, tabWidth: 8, padding: 2, padChar: ' ' });

function flagLines(specs: readonly FlagSpec[], extra: string[] = []): string {
  const rows = specs.map((s) => {
    const names = [s.name, ...(s.aliases ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
    const value = s.kind === 'bool' ? '' : ' value';
    const def =
      s.default !== undefined && s.default !== '' && s.kind !== 'bool'
        ? ` (default: ${JSON.stringify(s.default)})`
        : '';
    return `   ${names.map((n) => n + value).join(', ')}\t${s.usage}${def}\n`;
  });
  return columns([...rows, ...extra].join(''));
}

/** The top-level help, shaped like urfave/cli's. */
export function appHelp(
  name: string,
  version: string,
  commands: readonly Command[],
  globals: readonly FlagSpec[],
): string {
  const cmds = commands
    .map((c) => `   ${[c.name, ...(c.aliases ?? [])].join(', ')}\t${c.usage}\n`)
    .concat('   help, h\tShows a list of commands or help for one command\n');
  return (
    `NAME:\n   ${name} - build utility\n\nUSAGE:\n   ${name} [global options] command [command options] [arguments...]\n\n` +
    `VERSION:\n   ${version}\n\nCOMMANDS:\n${columns(cmds.join(''))}\nGLOBAL OPTIONS:\n` +
    flagLines(globals, ['   --help, -h\tshow help\n', '   --version, -v\tprint the version\n'])
  );
}

/** Help of one command (or of a command group, listing its subcommands). */
export function commandHelp(path: string, command: Command): string {
  let out = `NAME:\n   ${path} - ${command.usage}\n\nUSAGE:\n`;
  if (command.subcommands) {
    out += `   ${path} command [command options] [arguments...]\n\nCOMMANDS:\n`;
    out += columns(command.subcommands.map((c) => `   ${c.name}\t${c.usage}\n`).join(''));
    return out;
  }
  out += `   ${path} [command options] ${command.argsUsage ?? '[arguments...]'}\n\n`;
  if (command.description) out += `DESCRIPTION:\n   ${command.description.replaceAll('\n', '\n   ')}\n\n`;
  if (command.flags && command.flags.length > 0) out += `OPTIONS:\n${flagLines(command.flags)}   \n`;
  return out;
}
