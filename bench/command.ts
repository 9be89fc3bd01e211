import { spawn } from 'node:child_process';
import { CommandFailedError } from './errors.js';

export interface CommandResult {
  /** Wall time from spawn to exit, in milliseconds. */
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly stdin?: Uint8Array;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
}

/**
 * Runs `file args…` to completion and times it (spawn to exit, the way a user waits for it).
 * Throws CommandFailedError on a non-zero exit, and the signal's reason when aborted.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  options.signal?.throwIfAborted();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (options.signal?.aborted) reject(options.signal.reason);
      else if (code !== 0) reject(new CommandFailedError(`${file} ${args.join(' ')}`, code, stderr));
      else resolve({ ms, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // a tool that exits early closes its stdin; the exit code tells
    child.stdin.end(options.stdin ? Buffer.from(options.stdin) : undefined);
  });
}
