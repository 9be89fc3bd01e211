// What a running kilnd holds, read from /proc: resident memory, open descriptors, mounts under its
// root, descendant processes and runc containers.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DaemonUsage {
  readonly rssBytes: number;
  readonly openFds: number;
  /** Mount points under the daemon's root (`/proc/self/mountinfo`). */
  readonly mounts: number;
  /** Processes descended from the daemon (runc, container processes, helpers). */
  readonly descendants: number;
  /** Containers runc still knows in the daemon's runtime state directory. */
  readonly containers: number;
}

async function parentsByPid(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[1]) parents.set(Number(name), Number(fields[1]));
  }
  return parents;
}

/** Processes whose chain of parents reaches `pid`. */
export async function descendantsOf(pid: number): Promise<number[]> {
  const parents = await parentsByPid();
  const out: number[] = [];
  for (const child of parents.keys()) {
    for (let p = parents.get(child); p !== undefined && p > 1; p = parents.get(p)) {
      if (p === pid) {
        out.push(child);
        break;
      }
    }
  }
  return out;
}

/** Lines of /proc/self/mountinfo naming a path under `root`. */
export async function mountsUnder(root: string): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(root));
}

/** Container ids runc lists under the daemon's runtime state (`<root>/executor/runtime`). */
export async function runcContainers(root: string): Promise<string[]> {
  const { stdout } = await run('runc', ['--root', join(root, 'executor', 'runtime'), 'list', '-q']).catch(
    () => ({
      stdout: '',
    }),
  );
  return stdout.split('\n').filter(Boolean);
}

export async function daemonUsage(pid: number, root: string): Promise<DaemonUsage> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return {
    rssBytes: rssKb * 1024,
    openFds: (await readdir(`/proc/${pid}/fd`)).length,
    mounts: (await mountsUnder(root)).length,
    descendants: (await descendantsOf(pid)).length,
    containers: (await runcContainers(root)).length,
  };
}

/** The median of `values` (the middle one, or the mean of the two middle ones). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
