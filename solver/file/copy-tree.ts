import type { Stats } from 'node:fs';
import {
  chmodSync,
  constants,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { copyFile, link, lstat, readlink, rm, symlink, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { FilterState, PathFilter } from '../../llb/index.js';
import { FileActionCanceledError, FileTypeConflictError } from './errors.js';
import { type InfoPolicy, applyInfo, applyTimes, copyXattrs, creatorIds } from './file-info.js';
import { Limiter } from './limiter.js';
import { TreeIo } from './tree-io.js';
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
  /**
   * Make regular files hardlinks of the source's instead of copies. Only for a source that is never
   * changed in place (a committed snapshot), a destination nothing will change in place either, and
   * a policy that keeps every piece of metadata (the inode is shared, so its owner, mode, times and
   * xattrs are the source's). Where a link fails (another filesystem, too many links) files are copied.
   */
  readonly linkFiles?: boolean;
  /** Files copied at once; libuv's pool has four threads, a few more keep them busy. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

// EXCL: the target was removed just before; never write through whatever appears there.
const copyFlags = constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL;
/** Files up to this size are copied synchronously (see fileSync). */
const syncCopyLimit = 1 << 20;
/** A synchronous copy slower than this (ms) switches the copier to asynchronous copies. */
const syncStallLimit = 10;

/** A directory of the walk whose creation may be delayed until an included entry needs it. */
interface DirNode {
  readonly src: string;
  readonly target: string;
  readonly parent: DirNode | undefined;
  st: Stats;
  /** Set once making the target directory (created or merged) has started; readyDone once it has. */
  ready: Promise<void> | undefined;
  readyDone: boolean;
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
 * given source and target are touched, and nothing is hardlinked to the source unless `linkFiles`
 * asks for it. One instance per copied source path (hardlinks are tracked per instance). Regular
 * files are copied concurrently with `copyFile` (reflinks where the filesystem has them).
 */
export class TreeCopier {
  private readonly opts: TreeCopierOptions;
  private readonly inodes = new Map<string, Promise<string>>();
  /** Keys of `inodes` whose first target is a link to the source, not a copy. */
  private readonly linkedInodes = new Set<string>();
  private readonly limiter: Limiter;
  private readonly fs: TreeIo;
  private failure: unknown;
  private lastYield = performance.now();
  private pause: Promise<void> | undefined;
  private syncSlow = false;
  private linkFiles: boolean;

  constructor(options: TreeCopierOptions) {
    this.opts = options;
    this.linkFiles = options.linkFiles === true;
    this.limiter = new Limiter(options.concurrency ?? 8);
    this.fs = new TreeIo([options.destRoot, options.srcRoot]);
  }

  /** Copies `src` (host path, already resolved) to `target` (host path). Throws on the first failure. */
  async copy(src: string, target: string): Promise<void> {
    const st = await this.fs.run('stat', src, () => lstat(src));
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
    let targetSt = knownAbsent ? undefined : this.fs.lstat(e.target);
    if (include) {
      if (targetSt !== undefined && this.opts.alwaysReplace && !(isDir && targetSt.isDirectory())) {
        await this.fs.run('remove', e.target, () => rm(e.target, { recursive: true, force: true }));
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
        throw new FileTypeConflictError({ path: this.fs.show(e.target), expected: 'non-directory' });
      await this.fs.run('remove', e.target, () => unlink(e.target));
    }
    const created = await this.nonDirectory(e);
    if (created === 'linked') return;
    const dirSt = e.parent?.targetSt ?? this.fs.lstat(parentOf(e.target));
    const ids =
      created === 'copied' && dirSt !== undefined ? creatorIds(dirSt, e.st.mode & 0o7777) : undefined;
    this.fs.run('set metadata of', e.target, () => applyInfo(e.target, e.st, this.opts.policy, ids));
    copyXattrs(e.src, e.target, this.opts.logger);
  }

  /**
   * The fast path for the common case, a small regular file with one link whose target directory
   * exists: everything synchronously, which measured about twice as fast as going through libuv's
   * pool per call (each step is one cheap syscall; copy_file_range of up to 1 MiB is quick). The
   * caller yields to the event loop every few milliseconds. When linking, every regular file takes
   * this path as one link(2). Returns false when the entry needs the general path (directories,
   * links, hardlinked or large files, delayed parents, a refused link).
   */
  private fileSync(e: Entry, dir: DirNode): boolean {
    const st = e.st;
    if (!st.isFile() || !dir.readyDone) return false;
    if (!this.linkFiles && (st.nlink > 1 || st.size > syncCopyLimit || this.syncSlow)) return false;
    if (this.opts.filter !== undefined && !this.opts.filter.check(e.rel, false, e.filterState).keep)
      return true;
    this.checkpoint();
    const existing = dir.created ? undefined : this.fs.lstat(e.target);
    if (existing !== undefined) {
      if (this.opts.alwaysReplace)
        this.fs.run('remove', e.target, () => rmSync(e.target, { recursive: true, force: true }));
      else if (existing.isDirectory())
        throw new FileTypeConflictError({ path: this.fs.show(e.target), expected: 'non-directory' });
      else this.fs.run('remove', e.target, () => unlinkSync(e.target));
    }
    if (this.linkFiles) {
      // A refused link leaves the target absent; the general path copies it.
      return this.linkToSource(e);
    }
    const started = performance.now();
    this.fs.run('copy', e.target, () => copyFileSync(e.src, e.target, copyFlags));
    // A disk throttling writers makes a synchronous copy stall the whole event loop: from then
    // on this copy sends data through the thread pool instead.
    if (performance.now() - started > syncStallLimit) this.syncSlow = true;
    const ids = dir.targetSt === undefined ? undefined : creatorIds(dir.targetSt, st.mode & 0o7777);
    this.fs.run('set metadata of', e.target, () => applyInfo(e.target, st, this.opts.policy, ids));
    copyXattrs(e.src, e.target, this.opts.logger);
    return true;
  }

  /**
   * Makes the target a hardlink of the source file; false when the filesystem refuses (another
   * device, or the inode's link limit), after which files are copied (on another device, all).
   */
  private linkToSource(e: Entry): boolean {
    try {
      linkSync(e.src, e.target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EXDEV' || code === 'EPERM') this.linkFiles = false;
      // A full inode: its siblings share one copy instead of linking to a link of it.
      else if (code === 'EMLINK') this.forgetLinkedInode(`${e.st.dev}:${e.st.ino}`);
      else
        return this.fs.run('hardlink', e.target, () => {
          throw err;
        });
      return false;
    }
    // A later copy of a hardlinked sibling (after linking stopped) links to this one.
    if (e.st.nlink > 1) {
      const key = `${e.st.dev}:${e.st.ino}`;
      this.inodes.set(key, Promise.resolve(e.target));
      this.linkedInodes.add(key);
    }
    return true;
  }

  private forgetLinkedInode(key: string): void {
    if (!this.linkedInodes.delete(key)) return;
    this.inodes.delete(key);
  }

  /**
   * Lets other work run when synchronous steps have held the event loop for a few milliseconds.
   * All directory loops share one pause and one time budget: resumed together, they would
   * otherwise each take a full slice before the loop got a turn again.
   */
  private async yieldSometimes(): Promise<void> {
    if (performance.now() - this.lastYield < 4) return;
    this.pause ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.pause = undefined;
      this.lastYield = performance.now();
    });
    await this.pause;
  }

  /** Creates the non-directory; 'linked' when it became a hardlink to an earlier copy. */
  private async nonDirectory(e: Entry): Promise<'copied' | 'linked' | 'made'> {
    const st = e.st;
    if (st.isFile()) {
      if (this.linkFiles && this.linkToSource(e)) return 'linked';
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.inodes.get(key);
        if (first !== undefined) {
          const firstTarget = await first;
          await this.fs.run('hardlink', e.target, () => link(firstTarget, e.target));
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
      const to = await this.fs.run('read link', e.src, () => readlink(e.src));
      await this.fs.run('create link', e.target, () => symlink(to, e.target));
      return 'made';
    }
    await this.fs.run('create special file', e.target, () => makeSpecial(e.target, specialOf(st)));
    return 'made';
  }

  private copyData(e: Entry): Promise<void> {
    return this.fs.run('copy', e.target, () => copyFile(e.src, e.target, copyFlags));
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
      readyDone: false,
      created: false,
      targetSt: undefined,
    };
    if (include) {
      node.ready = this.makeDirectory(node, e.overwrite, targetSt);
      await node.ready;
      node.readyDone = true;
    }
    const names = this.fs.run('read directory', e.src, () => readdirSync(e.src));
    const children: Promise<void>[] = [];
    for (let i = 0; i < names.length; i++) {
      if (this.failure !== undefined) break;
      if (i % 64 === 63) await this.yieldSometimes();
      const name = names[i] as string;
      const src = `${e.src}/${name}`;
      const st = this.fs.run('stat', src, () => lstatSync(src));
      const child: Entry = {
        src,
        rel: e.rel === '' ? name : `${e.rel}/${name}`,
        target: `${e.target}/${name}`,
        st,
        overwrite: true,
        parent: node,
        filterState,
      };
      try {
        if (this.fileSync(child, node)) {
          await this.yieldSometimes();
          continue;
        }
      } catch (err) {
        this.fail(err);
        break;
      }
      children.push(this.entry(child, node.created).catch((err: unknown) => this.fail(err)));
    }
    await Promise.all(children);
    if (this.failure !== undefined) throw this.failure;
    if (!include) return;
    // The top directory keeps its own metadata when it existed; BuildKit only copies the times.
    if (node.created || e.overwrite) {
      this.fs.run('set metadata of', e.target, () => applyInfo(e.target, e.st, this.opts.policy));
      copyXattrs(e.src, e.target, this.opts.logger);
    } else {
      this.fs.run('set times of', e.target, () => applyTimes(e.target, e.st, this.opts.policy));
    }
  }

  /** Creates (or, nested, re-modes) the target directory of `node`. */
  private async makeDirectory(node: DirNode, overwrite: boolean, targetSt: Stats | undefined): Promise<void> {
    if (targetSt === undefined) {
      this.fs.run('create directory', node.target, () => mkdirSync(node.target, node.st.mode & 0o7777));
      node.created = true;
    } else if (!targetSt.isDirectory()) {
      throw new FileTypeConflictError({ path: this.fs.show(node.target), expected: 'directory' });
    } else if (overwrite) {
      this.fs.run('chmod', node.target, () => chmodSync(node.target, node.st.mode & 0o7777));
    }
    node.targetSt = this.fs.lstat(node.target);
  }

  /** Creates the delayed parents of an included entry (include patterns like `a/*\/c`). */
  private async ensureParents(dir: DirNode | undefined): Promise<void> {
    if (dir === undefined) return;
    if (dir.ready === undefined) {
      dir.ready = (async () => {
        await this.ensureParents(dir.parent);
        // BuildKit stats the source directory here, following links.
        const targetSt = this.fs.lstat(dir.target);
        await this.makeDirectory(dir, true, targetSt);
        if (dir.created) {
          this.fs.run('set metadata of', dir.target, () => applyInfo(dir.target, dir.st, this.opts.policy));
          copyXattrs(dir.src, dir.target, this.opts.logger);
        }
        dir.readyDone = true;
      })();
    }
    await dir.ready;
  }

  private withSlot<T>(fn: () => Promise<T>): Promise<T> {
    return this.limiter.run(async () => {
      this.checkpoint();
      return fn();
    });
  }

  private checkpoint(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.opts.signal?.aborted) throw new FileActionCanceledError({ cause: this.opts.signal.reason });
  }

  private fail(err: unknown): void {
    this.failure ??= err;
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}
