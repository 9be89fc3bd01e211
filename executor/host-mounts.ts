import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Mount } from '../snapshotter/index.js';
import { HostMountError } from './errors.js';

function run(cmd: string, args: string[]): Promise<{ ok: boolean; output: string; cause?: unknown }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve(err ? { ok: false, output: `${stderr}${stdout}`, cause: err } : { ok: true, output: '' });
    });
  });
}

function mountArgs(m: Mount, target: string): string[] {
  // util-linux wants bind mounts as options on a typeless mount.
  const type = m.type === 'bind' || m.type === 'rbind' ? 'none' : m.type;
  const opts = m.type === 'rbind' ? ['rbind', ...m.options] : m.options;
  return ['-t', type, ...(opts.length > 0 ? ['-o', opts.join(',')] : []), m.source, target];
}

/**
 * Mounts `mounts` in order on `target` in the daemon's mount namespace, with mount(8) (one process
 * per mount). On failure the mounts already made are undone before HostMountError is thrown.
 */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  for (const m of mounts) {
    const r = await run('mount', mountArgs(m, target));
    if (!r.ok) {
      await unmountAll(Array<string>(done).fill(target));
      throw new HostMountError({ op: 'mount', target, output: r.output, cause: r.cause });
    }
    done++;
  }
}

/**
 * Unmounts each target once, in the order given (give stacked and nested targets innermost
 * first): one umount(8) call for all of them, and a lazy detach for any that stay busy. Returns the
 * targets that could not be unmounted (empty on success); never throws, because it runs in cleanup
 * paths where the first error must not hide the rest.
 */
export async function unmountAll(targets: readonly string[]): Promise<HostMountError[]> {
  if (targets.length === 0) return [];
  const all = await run('umount', [...targets]);
  if (all.ok) return [];
  const failures: HostMountError[] = [];
  for (const target of targets) {
    const r = await run('umount', ['-l', target]);
    if (!r.ok && !/not mounted|no mount point/i.test(r.output)) {
      failures.push(new HostMountError({ op: 'umount', target, output: r.output, cause: r.cause }));
    }
  }
  return failures;
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Mount points at or below `dir` in this process's mount table, newest first (the order to
 * unmount them in). Reads /proc/self/mountinfo.
 */
export async function mountsUnder(dir: string, mountinfo = '/proc/self/mountinfo'): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const text = await readFile(mountinfo, 'utf8');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(prefix));
  return points.reverse();
}
