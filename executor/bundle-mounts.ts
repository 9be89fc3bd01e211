import { chmod, chown, lstat, mkdir, rmdir, writeFile } from 'node:fs/promises';
import { posix, join } from 'node:path';
import type { Mount } from '../snapshotter/index.js';
import { type HostMountError, InvalidProcessError, MountSourceNotFoundError } from './errors.js';
import { mountAll, unmountAll } from './host-mounts.js';
import { resolveInRoot } from './root-path.js';
import type { SpecMount } from './spec.js';
import type { ExecMount } from './types.js';

function isPlainBind(mounts: readonly Mount[]): mounts is readonly [Mount] {
  return mounts.length === 1 && (mounts[0]!.type === 'bind' || mounts[0]!.type === 'rbind');
}

function readonlyOptions(options: readonly string[]): string[] {
  return [...options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'];
}

/** Later mounts at the same destination replace earlier ones, keeping the first one's position. */
export function dedupeMounts(mounts: readonly ExecMount[]): ExecMount[] {
  const byDest = new Map<string, ExecMount>();
  for (const m of mounts) {
    if (!m.dest.startsWith('/')) {
      throw new InvalidProcessError({
        field: 'mount destination',
        reason: `${JSON.stringify(m.dest)} is not absolute`,
      });
    }
    byDest.set(posix.normalize(m.dest), { ...m, dest: posix.normalize(m.dest) });
  }
  return [...byDest.values()];
}

/**
 * The host side of one run's mounts, all under its bundle directory: the rootfs (unless it is a
 * plain directory, which is used in place), snapshots whose sub-path is selected, and the private
 * tmpfs holding secrets. Everything else is left to the runtime, which mounts it inside the
 * container's own mount namespace where it vanishes with the container. `release` undoes it all.
 */
export class BundleMounts {
  readonly #bundle: string;
  readonly #targets: string[] = [];
  #secretsDir: string | undefined;
  #count = 0;

  constructor(bundle: string) {
    this.#bundle = bundle;
  }

  async #mount(mounts: readonly Mount[], name: string): Promise<string> {
    const target = join(this.#bundle, name);
    await mkdir(target, { recursive: true });
    await mountAll(mounts, target);
    this.#targets.push(...mounts.map(() => target));
    return target;
  }

  /** The host directory to use as the container's root, and whether it must stay read-only. */
  async rootfs(mounts: readonly Mount[], readonly: boolean): Promise<{ path: string; readonly: boolean }> {
    if (isPlainBind(mounts)) {
      return { path: mounts[0].source, readonly: readonly || mounts[0].options.includes('ro') };
    }
    if (mounts.length === 0) throw new InvalidProcessError({ field: 'rootfs', reason: 'no mounts given' });
    return { path: await this.#mount(mounts, 'rootfs'), readonly };
  }

  /** The spec entries for the step's mounts (already deduplicated), preparing host sides as needed. */
  async prepare(mounts: readonly ExecMount[]): Promise<SpecMount[]> {
    const out: SpecMount[] = [];
    for (const m of mounts) out.push(...(await this.#prepareOne(m)));
    return out;
  }

  async #prepareOne(m: ExecMount): Promise<SpecMount[]> {
    const destination = m.dest;
    switch (m.kind) {
      case 'snapshot': {
        const selector = posix.join('/', m.selector ?? '/');
        if (selector === '/') {
          return m.mounts.map((x) => ({
            destination,
            type: x.type,
            source: x.source,
            options: m.readonly ? readonlyOptions(x.options) : [...x.options],
          }));
        }
        const root = isPlainBind(m.mounts)
          ? m.mounts[0].source
          : await this.#mount(m.mounts, `mnt/${this.#count++}`);
        const source = await resolveInRoot(root, selector);
        try {
          await lstat(source);
        } catch (err) {
          throw new MountSourceNotFoundError({ dest: destination, selector, cause: err });
        }
        return [{ destination, type: 'bind', source, options: ['rbind', m.readonly ? 'ro' : 'rw'] }];
      }
      case 'bind':
        return [
          { destination, type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw'] },
        ];
      case 'tmpfs': {
        const size = m.size && m.size > 0 ? [`size=${m.size}`] : [];
        return [{ destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', ...size] }];
      }
      case 'secret': {
        this.#secretsDir ??= await this.#mount(
          [{ type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'nosuid', 'noexec', 'mode=0700'] }],
          'secrets',
        );
        const file = join(this.#secretsDir, `s${this.#count++}`);
        await writeFile(file, m.data, { mode: 0o600 });
        await chown(file, m.uid, m.gid);
        await chmod(file, m.mode & 0o7777);
        return [
          { destination, type: 'bind', source: file, options: ['ro', 'rbind', 'nodev', 'nosuid', 'noexec'] },
        ];
      }
      case 'ssh':
        await chown(m.socketPath, m.uid, m.gid);
        await chmod(m.socketPath, m.mode & 0o7777);
        return [{ destination, type: 'bind', source: m.socketPath, options: ['rbind'] }];
    }
  }

  /**
   * Unmounts everything mounted so far (newest first) and removes the now empty mount points.
   * Returns the failures; a target that failed keeps its directory, so nothing below it is ever
   * deleted through a live mount.
   */
  async release(): Promise<HostMountError[]> {
    const targets = this.#targets.splice(0).reverse();
    const failures = await unmountAll(targets);
    const stuck = new Set(failures.map((f) => f.target));
    for (const t of new Set(targets)) {
      if (!stuck.has(t)) await rmdir(t).catch(() => undefined);
    }
    return failures;
  }
}
