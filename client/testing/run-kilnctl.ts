import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** What a CLI run printed and how it exited. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** The compiled kilnctl entry point (dist-…/client/main.js beside this file's output). */
export const kilnctlMain = join(import.meta.dirname, '..', 'main.js');

/** Runs a command to completion with optional stdin bytes; never rejects on a non-zero exit. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Uint8Array; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** Runs kilnctl (the compiled main.js) against `address`. */
export function runKilnctl(
  address: string,
  args: readonly string[],
  options: Parameters<typeof runProcess>[2] = {},
): Promise<CliRun> {
  return runProcess(process.execPath, [kilnctlMain, '--addr', address, ...args], options);
}

/** Runs the real buildctl with the same arguments, for comparison. */
export function runBuildctl(
  buildctl: string,
  address: string,
  args: readonly string[],
  options: Parameters<typeof runProcess>[2] = {},
): Promise<CliRun> {
  return runProcess(buildctl, ['--addr', address, ...args], options);
}
