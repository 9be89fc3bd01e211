import type { Stats } from 'node:fs';
import { constants, lstatSync } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readlink,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FilterState, PathFilter } from '../../llb/patterns.js';
import { FileActionCanceledError, FileSystemError, FileTypeConflictError } from './errors.js';
import { type InfoPolicy, applyInfo, applyTimes, copyXattrs, creatorIds } from './file-info.js';
import { makeSpecial, specialOf } from './special-files.js';

/** What a TreeCopier needs besides the metadata policy. */
export interface TreeCopierOptions {
  readonly policy: InfoPolicy;
  /** Include/exclude patterns relative to the copied source; undefined copies everything. */
  readonly filter: PathFilter | undefined;
  /** Replace an existing destination entry of another type instead of failing (dirs still merge). */
  readonly alwaysReplace: boolean;
  /** The source and destination roots on the host, to print in-root paths in errors. */
  readonly srcRoot: string;
  readonly destRoot: string;
  /** Files copied at once; libuv's pool has four threads, a few more keep them busy. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/** A directory of the walk whose creation may be delayed until an included entry needs it. */
interface DirNode {
  readonly src: string;
  readonly target: string;
  readonly parent: DirNode | undefined;
  st: Stats;
  /** Set once the target directory exists (created or merged). */
  ready: Promise<void> | undefined;
  /** The owner and mode of the target when this copy created it (lets children skip lstat). */
  created: boolean;
  /** The target's own lstat after creation, for the creator ids of its children. */
  targetSt: Stats | undefined;
}

interface Entry {
  readonly src: string;
  readonly rel: string;
  readonly target: string;
  readonly st: Stats;
  /** false for the top entry only: BuildKit merges into an existing top directory without touching it. */
  readonly overwrite: boolean;
  readonly parent: DirNode | undefined;
  readonly filterState: FilterState | undefined;
}

/**
 * Copies one source path onto one destination path with `cp -a` semantics as BuildKit's fsutil
 * copier has them: directories merge into existing directories (nested ones take the source's
 * mode, owner and times; the top one only its times), a non-directory replaces an existing
 * non-directory, symbolic links are copied as links and never followed, hardlinks inside the
 * copied tree stay hardlinks, devices and fifos are recreated, xattrs copied. Only paths under the
 * given source and target are touched and nothing is ever hardlinked to the source. One instance
 * per copied source path (hardlinks are tracked per instance). Regular files are copied
 * concurrently with `copyFile` (reflinks where the filesystem has them).
 */
export class TreeCopier {
  private readonly opts: TreeCopierOptions;
  private readonly inodes = new Map<string, Promise<string>>();
  private readonly slots: Array<() => void> = [];
  private active = 0;
  private failure: unknown;

  constructor(options: TreeCopierOptions) {
    this.opts = options;
  }

  /** Copies `src` (host path, already resolved) to `target` (host path). Throws on the first failure. */
  async copy(src: string, target: string): Promise<void> {
    const st = await this.io('stat', src, () => lstat(src));
    await this.entry({
      src,
      rel: '',
      target,
      st,
      overwrite: false,
      parent: undefined,
      filterState: undefined,
    });
  }

  private async entry(e: Entry, knownAbsent = false): Promise<void> {
    this.checkpoint();
    const isDir = e.st.isDirectory();
    let include = true;
    let filterState: FilterState | undefined;
    let descend = isDir;
    if (e.rel !== '' && this.opts.filter !== undefined) {
      const decision = this.opts.filter.check(e.rel, isDir, e.filterState);
      include = decision.keep;
      descend = decision.descend;
      filterState = decision.state;
    }
    if (!include && !isDir) return;
    if (!include && !descend) return;
    let targetSt = knownAbsent ? undefined : this.lstatOrUndefined(e.target);
    if (include) {
      if (targetSt !== undefined && this.opts.alwaysReplace && !(isDir && targetSt.isDirectory())) {
        await this.io('remove', e.target, () => rm(e.target, { recursive: true, force: true }));
        targetSt = undefined;
      }
      await this.ensureParents(e.parent);
    }
    if (isDir) {
      await this.directory(e, include, filterState, targetSt);
      return;
    }
    if (targetSt !== undefined) {
      if (targetSt.isDirectory())
        throw new FileTypeConflictError({ path: this.show(e.target), expected: 'non-directory' });
      await this.io('remove', e.target, () => unlink(e.target));
    }
    const created = await this.nonDirectory(e);
    if (created === 'linked') return;
    const dirSt = e.parent?.targetSt ?? this.lstatOrUndefined(parentOf(e.target));
    const ids =
      created === 'copied' && dirSt !== undefined ? creatorIds(dirSt, e.st.mode & 0o7777) : undefined;
    this.io('set metadata of', e.target, () => applyInfo(e.target, e.st, this.opts.policy, ids));
    copyXattrs(e.src, e.target, this.opts.logger);
  }

  /** Creates the non-directory; 'linked' when it became a hardlink to an earlier copy. */
  private async nonDirectory(e: Entry): Promise<'copied' | 'linked' | 'made'> {
    const st = e.st;
    if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.inodes.get(key);
        if (first !== undefined) {
          const firstTarget = await first;
          await this.io('hardlink', e.target, () => link(firstTarget, e.target));
          return 'linked';
        }
        const done = this.withSlot(() => this.copyData(e)).then(() => e.target);
        this.inodes.set(key, done);
        await done;
        return 'copied';
      }
      await this.withSlot(() => this.copyData(e));
      return 'copied';
    }
    if (st.isSymbolicLink()) {
      const to = await this.io('read link', e.src, () => readlink(e.src));
      await this.io('create link', e.target, () => symlink(to, e.target));
      return 'made';
    }
    await this.io('create special file', e.target, () => makeSpecial(e.target, specialOf(st)));
    return 'made';
  }

  private copyData(e: Entry): Promise<void> {
    // EXCL: the target was removed just before; never write through whatever appears there.
    const flags = constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL;
    return this.io('copy', e.target, () => copyFile(e.src, e.target, flags));
  }

  private async directory(
    e: Entry,
    include: boolean,
    filterState: FilterState | undefined,
    targetSt: Stats | undefined,
  ): Promise<void> {
    const node: DirNode = {
      src: e.src,
      target: e.target,
      parent: e.parent,
      st: e.st,
      ready: undefined,
      created: false,
      targetSt: undefined,
    };
    if (include) {
      node.ready = this.makeDirectory(node, e.overwrite, targetSt);
      await node.ready;
    }
    const names = await this.io('read directory', e.src, () => readdir(e.src));
    const children: Promise<void>[] = [];
    for (let i = 0; i < names.length; i++) {
      if (this.failure !== undefined) break;
      // The lstat calls below are synchronous; let other work run in huge directories.
      if (i > 0 && i % 512 === 0) await new Promise((resolve) => setImmediate(resolve));
      const name = names[i] as string;
      const src = `${e.src}/${name}`;
      const st = this.io('stat', src, () => lstatSync(src));
      const child: Entry = {
        src,
        rel: e.rel === '' ? name : `${e.rel}/${name}`,
        target: `${e.target}/${name}`,
        st,
        overwrite: true,
        parent: node,
        filterState,
      };
      children.push(this.entry(child, node.created).catch((err: unknown) => this.fail(err)));
    }
    await Promise.all(children);
    if (this.failure !== undefined) throw this.failure;
    if (!include) return;
    // The top directory keeps its own metadata when it existed; BuildKit only copies the times.
    if (node.created || e.overwrite) {
      this.io('set metadata of', e.target, () => applyInfo(e.target, e.st, this.opts.policy));
      copyXattrs(e.src, e.target, this.opts.logger);
    } else {
      this.io('set times of', e.target, () => applyTimes(e.target, e.st, this.opts.policy));
    }
  }

  /** Creates (or, nested, re-modes) the target directory of `node`. */
  private async makeDirectory(node: DirNode, overwrite: boolean, targetSt: Stats | undefined): Promise<void> {
    if (targetSt === undefined) {
      await this.io('create directory', node.target, () => mkdir(node.target, node.st.mode & 0o7777));
      node.created = true;
    } else if (!targetSt.isDirectory()) {
      throw new FileTypeConflictError({ path: this.show(node.target), expected: 'directory' });
    } else if (overwrite) {
      await this.io('chmod', node.target, () => chmod(node.target, node.st.mode & 0o7777));
    }
    node.targetSt = this.lstatOrUndefined(node.target);
  }

  /** Creates the delayed parents of an included entry (include patterns like `a/*\/c`). */
  private async ensureParents(dir: DirNode | undefined): Promise<void> {
    if (dir === undefined) return;
    if (dir.ready === undefined) {
      dir.ready = (async () => {
        await this.ensureParents(dir.parent);
        // BuildKit stats the source directory here, following links.
        const targetSt = this.lstatOrUndefined(dir.target);
        await this.makeDirectory(dir, true, targetSt);
        if (dir.created) {
          this.io('set metadata of', dir.target, () => applyInfo(dir.target, dir.st, this.opts.policy));
          copyXattrs(dir.src, dir.target, this.opts.logger);
        }
      })();
    }
    await dir.ready;
  }

  private lstatOrUndefined(path: string): Stats | undefined {
    try {
      return lstatSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new FileSystemError({ operation: 'stat', path: this.show(path), cause: err });
    }
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    // A released slot passes straight to the next waiter, so `active` never exceeds the limit.
    if (this.active >= (this.opts.concurrency ?? 8))
      await new Promise<void>((resolve) => this.slots.push(resolve));
    else this.active++;
    try {
      this.checkpoint();
      return await fn();
    } finally {
      const next = this.slots.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }

  private checkpoint(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.opts.signal?.aborted) throw new FileActionCanceledError({ cause: this.opts.signal.reason });
  }

  private fail(err: unknown): void {
    this.failure ??= err;
  }

  /** Runs a filesystem call, turning its error into a FileSystemError naming the in-root path. */
  private io<T>(operation: string, path: string, fn: () => T): T {
    const wrap = (err: unknown): never => {
      if (err instanceof Error && 'kind' in err) throw err;
      throw new FileSystemError({ operation, path: this.show(path), cause: err });
    };
    try {
      const out = fn();
      if (out instanceof Promise) return out.catch(wrap) as T;
      return out;
    } catch (err) {
      return wrap(err);
    }
  }

  private show(host: string): string {
    for (const root of [this.opts.destRoot, this.opts.srcRoot]) {
      if (host === root) return '/';
      if (host.startsWith(`${root}/`)) return host.slice(root.length);
    }
    return host;
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}
