import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The checkout the compiled tests came from (dist-x/test/deploy → the repository root). */
export const repoRoot = join(import.meta.dirname, '..', '..', '..');

/** The compiled kilnctl beside the compiled tests. */
export const kilnctlMain = join(import.meta.dirname, '..', '..', 'client', 'main.js');

export interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (killed after `timeoutMs`); never rejects on a non-zero exit. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; input?: string; signal?: AbortSignal } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the compiled kilnctl with `args` (global flags first, as a user types them). */
export function kilnctl(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  return runProcess(process.execPath, [kilnctlMain, ...args], options);
}

/** Fails with the command's output when it did not exit 0. */
export function check(result: ProcessResult, what: string): ProcessResult {
  if (result.code !== 0) {
    throw new Error(
      `${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result;
}
