import type { Readable, Writable } from 'node:stream';
import { Client } from '../client.js';
import { buildCommand } from '../commands/build.js';
import { debugCommand } from '../commands/debug.js';
import { duCommand } from '../commands/du.js';
import { explainCommand } from '../commands/explain.js';
import { historyCommand } from '../commands/history.js';
import { pruneCommand } from '../commands/prune.js';
import { formatErrorSource } from '../daemon-error.js';
import { ClientUsageError, type ErrorSource } from '../errors.js';
import { routeRequestFromFlags, selectNode } from '../routing/index.js';
import type { CliOutput, Command, CommandContext } from './command.js';
import { parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { appHelp, commandHelp } from './help.js';

const name = 'kilnctl';
const defaultAddress = 'unix:///run/buildkit/buildkitd.sock';

/** Exit codes, as buildctl (urfave/cli) uses them. */
export const exitCodes = { ok: 0, error: 1, unknownCommand: 3 } as const;

export const commands: readonly Command[] = [
  duCommand,
  pruneCommand,
  buildCommand,
  debugCommand,
  historyCommand,
  explainCommand,
];

function globalFlags(env: Readonly<Record<string, string | undefined>>): FlagSpec[] {
  return [
    { name: 'debug', kind: 'bool', usage: 'enable debug output in logs' },
    {
      name: 'addr',
      kind: 'strings',
      usage: 'buildkitd address (repeat it for a builder of several nodes)',
      default: env['BUILDKIT_HOST'] || defaultAddress,
    },
    {
      name: 'builder',
      kind: 'string',
      usage: 'builder file (TOML) listing several nodes to route builds to',
    },
    { name: 'tlsservername', kind: 'string', usage: 'buildkitd server name for certificate validation' },
    { name: 'tlscacert', kind: 'string', usage: 'CA certificate for validation' },
    { name: 'tlscert', kind: 'string', usage: 'client certificate' },
    { name: 'tlskey', kind: 'string', usage: 'client key' },
    {
      name: 'tlsdir',
      kind: 'string',
      usage: 'directory containing CA certificate, client certificate, and client key',
    },
    { name: 'timeout', kind: 'int', usage: 'timeout backend connection after value seconds', default: 5 },
    { name: 'wait', kind: 'bool', usage: 'block RPCs until the connection becomes available' },
    { name: 'help', aliases: ['h'], kind: 'bool', usage: 'show help' },
    { name: 'version', aliases: ['v'], kind: 'bool', usage: 'print the version' },
  ];
}

/** The process around a CLI run; tests pass buffers. */
export interface CliIo {
  readonly stdout: CliOutput & Writable;
  readonly stderr: CliOutput;
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly version: string;
}

function findCommand(list: readonly Command[], word: string): Command | undefined {
  return list.find((c) => c.name === word || (c.aliases ?? []).includes(word));
}

function printError(io: CliIo, err: unknown): void {
  const sources = (err as { sources?: readonly ErrorSource[] }).sources ?? [];
  for (const source of sources) io.stderr.write(formatErrorSource(source));
  io.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
}

/**
 * Runs kilnctl with `argv` (without the program name) and resolves with the exit code: 0 on
 * success, 1 on any error (printed as `error: …`, after the failing Dockerfile lines when the
 * daemon sent them), 3 for an unknown command — buildctl's codes.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let client: Client | undefined;
  try {
    const globals = parseFlags(argv, globalFlags(io.env), { stopAtPositional: true });
    const app = appHelp(name, io.version, commands, globalFlags(io.env).slice(0, -2));
    if (globals.bool('version')) {
      io.stdout.write(`${name} kiln ${io.version}\n`);
      return exitCodes.ok;
    }
    let rest = [...globals.args];
    if (rest.length === 0 || globals.bool('help') || rest[0] === 'help' || rest[0] === 'h') {
      const topic = rest[0] === 'help' || rest[0] === 'h' ? rest[1] : undefined;
      if (topic) {
        const c = findCommand(commands, topic);
        if (!c) {
          io.stdout.write(`No help topic for '${topic}'\n`);
          return exitCodes.unknownCommand;
        }
        io.stdout.write(commandHelp(`${name} ${c.name}`, c));
      } else io.stdout.write(app);
      return exitCodes.ok;
    }
    let path = name;
    let command: Command | undefined;
    let list = commands;
    for (;;) {
      const word = rest[0]!;
      const found = findCommand(list, word);
      if (!found) {
        io.stderr.write(`No help topic for '${word}'\n`);
        return exitCodes.unknownCommand;
      }
      command = found;
      path += ` ${found.name}`;
      rest = rest.slice(1);
      if (!found.subcommands) break;
      if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h' || rest[0] === 'help') {
        io.stdout.write(commandHelp(path, found));
        return exitCodes.ok;
      }
      list = found.subcommands;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(commandHelp(path, command));
      return exitCodes.ok;
    }
    let flags: ParsedFlags;
    try {
      flags = parseFlags(rest, command.flags ?? []);
    } catch (err) {
      io.stdout.write(`Incorrect Usage: ${(err as Error).message}\n\n${commandHelp(path, command)}`);
      throw err;
    }
    const ctx: CommandContext = {
      flags,
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin,
      env: io.env,
      cwd: io.cwd,
      signal: io.signal,
      debug: globals.bool('debug'),
      warn: (message) => io.stderr.write(`WARN[0000] ${message}\n`),
      client: async () => {
        if (client) return client;
        const { address, tls } = await selectNode({
          addresses: globals.strings('addr'),
          defaultAddress: io.env['BUILDKIT_HOST'] || defaultAddress,
          builderFile: globals.string('builder'),
          tls: {
            caCert: globals.string('tlscacert'),
            cert: globals.string('tlscert'),
            key: globals.string('tlskey'),
            dir: globals.string('tlsdir'),
            serverName: globals.string('tlsservername'),
          },
          ...(command.name === 'build' ? { request: routeRequestFromFlags(flags, io.cwd) } : {}),
          timeoutMs: globals.number('timeout') * 1000,
          signal: io.signal,
          ...(globals.bool('debug')
            ? { debug: (line: string) => io.stderr.write(`DEBU[0000] ${line}\n`) }
            : {}),
        });
        client = new Client({ address, ...(tls ? { tls } : {}) });
        if (globals.bool('wait'))
          await client.wait({ timeoutMs: globals.number('timeout') * 1000, signal: io.signal });
        return client;
      },
    };
    if (!command.run) throw new ClientUsageError({ message: `${path} needs a subcommand` });
    await command.run(ctx);
    return exitCodes.ok;
  } catch (err) {
    printError(io, err);
    return exitCodes.error;
  } finally {
    client?.close();
  }
}
