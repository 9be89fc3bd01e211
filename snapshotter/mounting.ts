import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { MountError } from './errors.js';
import type { Mount } from './mount.js';

interface RunResult {
  readonly ok: boolean;
  readonly output: string;
  readonly cause?: unknown;
}

/** Runs a tool, collecting its output; never rejects (the caller decides what a failure means). */
export function runTool(cmd: string, args: readonly string[], signal?: AbortSignal): Promise<RunResult> {
  return new Promise((done) => {
    execFile(cmd, args, { encoding: 'utf8', signal, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      done(error ? { ok: false, output: `${stderr}${stdout}`, cause: error } : { ok: true, output: stdout });
    });
  });
}

/** mount(8) arguments for one Mount: bind mounts are typeless, their flags are options. */
function mountArgs(m: Mount, target: string): string[] {
  const bind = m.type === 'bind' || m.type === 'rbind';
  const options =
    m.type === 'rbind' && !m.options.includes('rbind') ? ['rbind', ...m.options] : [...m.options];
  if (bind && !options.includes('bind') && !options.includes('rbind')) options.unshift('bind');
  return [
    '-t',
    bind ? 'none' : m.type,
    ...(options.length > 0 ? ['-o', options.join(',')] : []),
    m.source,
    target,
  ];
}

/**
 * Mounts `mounts` in order at `target` with mount(8) (one process each; mount(2) is not reachable
 * from Node). A read-only bind is made read-only in the same call (util-linux remounts it). On
 * failure, the mounts already made are undone and MountError is thrown; honours `signal` between
 * mounts.
 */
export async function mountAll(
  mounts: readonly Mount[],
  target: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      options.signal?.throwIfAborted();
      const r = await runTool('mount', mountArgs(m, target), options.signal);
      if (!r.ok) throw new MountError({ op: 'mount', target, output: r.output, cause: r.cause });
      done++;
    }
  } catch (error) {
    if (done > 0) await unmountAll(target);
    throw error;
  }
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir` in this process's mount table (/proc/self/mountinfo). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  const root = resolve(dir);
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === root || p.startsWith(prefix));
}

/**
 * Unmounts everything mounted at or below `target` (stacked mounts, recursive binds), detaching
 * lazily what stays busy. Never throws: it runs in cleanup paths, where the first error must not
 * hide the rest; returns the failures instead (empty when nothing is left mounted).
 */
export async function unmountAll(target: string): Promise<MountError[]> {
  for (let attempt = 0; attempt < 4; attempt++) {
    if ((await mountPointsUnder(target)).length === 0) return [];
    const r = await runTool('umount', ['-R', target]);
    if (!r.ok) await delay(25 * (attempt + 1));
  }
  if ((await mountPointsUnder(target)).length === 0) return [];
  const lazy = await runTool('umount', ['-R', '-l', target]);
  if ((await mountPointsUnder(target)).length === 0) return [];
  return [new MountError({ op: 'umount', target, output: lazy.output, cause: lazy.cause })];
}

/**
 * Mounts `mounts` on a fresh temporary directory, runs `fn` on it, and always unmounts and removes
 * the directory afterwards (even when `fn` throws). The directory is only ever rmdir'ed, never
 * removed recursively, so a failed unmount cannot delete the snapshot's files.
 */
export async function withTempMount<T>(
  mounts: readonly Mount[],
  fn: (dir: string) => Promise<T>,
  options: { signal?: AbortSignal; parent?: string } = {},
): Promise<T> {
  const dir = await mkdtemp(join(options.parent ?? tmpdir(), 'kiln-mount-'));
  try {
    await mountAll(mounts, dir, options);
    return await fn(dir);
  } finally {
    const failures = await unmountAll(dir);
    if (failures.length === 0) await rmdir(dir).catch(() => undefined);
  }
}
