import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { RuntimeUnavailableError } from './errors.js';

/** How a `run` ended: the process's exit code (128+n when killed by signal n) or a spawn error. */
export interface RuntimeExit {
  readonly code: number;
}

/** A started `runtime run`: its child process and a promise for its end (after stdout/stderr closed). */
export interface RuntimeRun {
  readonly child: ChildProcess;
  readonly exited: Promise<RuntimeExit>;
}

/**
 * A runc-compatible CLI (runc, crun) with its own state directory (`--root`), so the daemon's
 * containers are kept apart from any other user of the runtime. Errors the runtime reports are
 * written as JSON lines to a per-run log file, read back by `runtimeErrors`.
 */
export class OciRuntime {
  readonly binary: string;
  readonly stateRoot: string;

  constructor(opts: { binary: string; stateRoot: string }) {
    this.binary = opts.binary;
    this.stateRoot = opts.stateRoot;
  }

  #global(logPath?: string): string[] {
    return ['--root', this.stateRoot, ...(logPath ? ['--log', logPath, '--log-format', 'json'] : [])];
  }

  /**
   * `run --bundle <bundle> <id>` with stdin from /dev/null (a pipe with `stdin`) and stdout/stderr
   * as pipes (the runtime hands them to the container process). Rejects `exited` with
   * RuntimeUnavailableError when the binary cannot be executed.
   */
  run(opts: { id: string; bundle: string; logPath: string; stdin?: boolean }): RuntimeRun {
    const child = spawn(
      this.binary,
      [...this.#global(opts.logPath), 'run', '--bundle', opts.bundle, opts.id],
      {
        stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<RuntimeExit>((resolve, reject) => {
      child.once('error', (err) => reject(new RuntimeUnavailableError({ runtime: this.binary, cause: err })));
      child.once('close', (code, signal) => {
        resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0) });
      });
    });
    return { child, exited };
  }

  /** Sends `signal` to the container's init; resolves false when the container is not (yet) there. */
  kill(id: string, signal = 'KILL'): Promise<boolean> {
    return this.#exec(['kill', id, signal]).then((r) => r.ok);
  }

  /** Removes the container whatever its state; resolves false when there was nothing to remove. */
  delete(id: string): Promise<boolean> {
    return this.#exec(['delete', '--force', id]).then((r) => r.ok);
  }

  /** Ids of the containers in this runtime's state directory. */
  async list(): Promise<string[]> {
    const r = await this.#exec(['list', '--format', 'json']);
    if (!r.ok) return [];
    const parsed = JSON.parse(r.stdout || 'null') as { id: string }[] | null;
    return (parsed ?? []).map((c) => c.id);
  }

  #exec(args: string[]): Promise<{ ok: boolean; stdout: string }> {
    return new Promise((resolve) => {
      execFile(this.binary, [...this.#global(), ...args], { encoding: 'utf8' }, (err, stdout) =>
        resolve({ ok: !err, stdout }),
      );
    });
  }
}

/** The error messages the runtime logged in `logPath` (empty when it logged none or no file exists). */
export async function runtimeErrors(logPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) out.push(entry.msg);
    } catch {
      out.push(line);
    }
  }
  return out;
}
