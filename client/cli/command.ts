import type { Readable, Writable } from 'node:stream';
import type { Client } from '../client.js';
import type { FlagSpec, ParsedFlags } from './flags.js';

/** A writable the CLI prints to (process.stdout / stderr, or a buffer in tests). */
export interface CliOutput {
  write(text: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

/** What a command runs with: its flags, I/O, the environment and a lazily connected client. */
export interface CommandContext {
  readonly flags: ParsedFlags;
  readonly stdout: CliOutput & Writable;
  readonly stderr: CliOutput;
  readonly stdin: Readable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Connects on first use, honouring `--addr`, TLS flags and `--wait`. */
  client(): Promise<Client>;
  /** Cancelled on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** `--debug`: print debug lines (the exporter response after a build). */
  readonly debug: boolean;
  /** Logs a warning line to stderr (logrus style). */
  warn(message: string): void;
}

/** One kilnctl (sub)command. `subcommands` make it a group (`debug`, `history`). */
export interface Command {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly usage: string;
  readonly argsUsage?: string;
  readonly description?: string;
  readonly flags?: readonly FlagSpec[];
  readonly subcommands?: readonly Command[];
  run?(ctx: CommandContext): Promise<void>;
}
