import { promises as fsp, type BigIntStats } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { PathFilter, Pattern, cleanPath, type FilterState } from '../../llb/index.js';
import type { Stat } from '../../proto/gen/fsutil/types/stat_pb.js';
import { compareNames, statOf } from './fs-stat.js';

export interface WalkOptions {
  includePatterns?: readonly string[];
  excludePatterns?: readonly string[];
  /** Paths to send (with their parents); symlinks among them are followed to their targets. */
  followPaths?: readonly string[];
  signal?: AbortSignal;
}

export interface WalkEntry {
  stat: Stat;
  /** Absolute path on disk. */
  source: string;
}

/**
 * Walks `dir` as fsutil's sender does: the root's symlinks resolved, names byte-sorted, a
 * directory before its contents, include/exclude patterns and follow paths applied, skipped
 * parents emitted lazily before a kept child, hardlinks within the walk detected by inode.
 * `visit` is awaited per entry, so a slow consumer slows the walk.
 */
export async function walkDirectory(
  dir: string,
  options: WalkOptions,
  visit: (entry: WalkEntry) => Promise<void>,
): Promise<void> {
  const root = await fsp.realpath(dir);
  let includes = options.includePatterns ? [...options.includePatterns] : undefined;
  if (options.followPaths?.length) {
    const targets = await followLinks(root, options.followPaths);
    if (targets) includes = dedupePaths([...(includes ?? []), ...targets]);
  }
  const filter = new PathFilter({
    ...(includes ? { includePatterns: includes } : {}),
    ...(options.excludePatterns ? { excludePatterns: options.excludePatterns } : {}),
  });
  const inodes = new Map<bigint, string>();
  const pending: { rel: string; source: string; st: BigIntStats; emitted: boolean }[] = [];

  const emit = async (rel: string, source: string, st: BigIntStats): Promise<void> => {
    for (const parent of pending) {
      if (parent.emitted) continue;
      parent.emitted = true;
      await visit({ stat: statOf(parent.rel, parent.st, ''), source: parent.source });
    }
    let linkname = '';
    if (st.isSymbolicLink()) linkname = await fsp.readlink(source);
    const stat = statOf(rel, st, linkname);
    if (st.isFile() && st.nlink > 1n) {
      const first = inodes.get(st.ino);
      if (first !== undefined) {
        stat.linkname = first;
        stat.size = 0n;
      } else inodes.set(st.ino, rel);
    }
    await visit({ stat, source });
  };

  const walk = async (abs: string, rel: string, parentState: FilterState | undefined): Promise<void> => {
    options.signal?.throwIfAborted();
    let names: string[];
    try {
      names = (await fsp.readdir(abs)).sort(compareNames);
    } catch (err) {
      if (isNotExist(err)) return;
      throw err;
    }
    const stats = await Promise.all(
      names.map((name) =>
        fsp
          .lstat(join(abs, name), { bigint: true })
          .catch((err: unknown) => (isNotExist(err) ? undefined : Promise.reject(err))),
      ),
    );
    for (let i = 0; i < names.length; i++) {
      const st = stats[i];
      if (!st) continue;
      const name = names[i] as string;
      const path = rel ? `${rel}/${name}` : name;
      const source = join(abs, name);
      const isDir = st.isDirectory();
      const decision = filter.empty
        ? { keep: true, descend: isDir, state: undefined }
        : filter.check(path, isDir, parentState);
      if (decision.keep) await emit(path, source, st);
      if (isDir && decision.descend) {
        pending.push({ rel: path, source, st, emitted: decision.keep });
        await walk(source, path, decision.state);
        pending.pop();
      }
    }
  };
  await walk(root, '', undefined);
}

function isNotExist(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** fsutil's dedupe over a sorted list: drops paths under an earlier one; `.` means "no filter". */
function dedupePaths(paths: string[]): string[] | undefined {
  const out: string[] = [];
  let last = '';
  for (const p of paths) {
    if (p === '.') return undefined;
    if (p.startsWith(`${last}/`)) continue;
    out.push(p);
    last = p;
  }
  return out;
}

/** Resolves follow paths that pass through symlinks into the paths of their targets (fsutil FollowLinks). */
export async function followLinks(root: string, paths: readonly string[]): Promise<string[] | undefined> {
  const resolved = new Set<string>();
  const readSymlink = async (p: string, allowWildcard: boolean): Promise<string[] | undefined> => {
    const real = join(root, p);
    const base = posix.basename(p);
    if (allowWildcard && containsWildcards(base)) {
      let names: string[];
      try {
        names = await fsp.readdir(posix.dirname(real));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      let out: string[] | undefined;
      const glob = new Pattern(base, false);
      for (const name of names) {
        if (!glob.match(name)) continue;
        const res = await readSymlink(posix.join(posix.dirname(p), name), false);
        if (res?.length) out = [...(out ?? []), ...res];
      }
      return out;
    }
    let st;
    try {
      st = await fsp.lstat(real);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (!st.isSymbolicLink()) return undefined;
    const link = cleanPath(await fsp.readlink(real));
    if (isAbsolute(link)) return [link];
    return [posix.join('/', posix.join(posix.dirname(p), link))];
  };
  const append = async (input: string, depth: number): Promise<void> => {
    if (depth > 255) return;
    let p = cleanPath(posix.join('.', input));
    let current = '.';
    for (;;) {
      const slash = p.indexOf('/');
      const head = slash < 0 ? p : p.slice(0, slash);
      current = cleanPath(posix.join(current, head));
      const targets = await readSymlink(current, true);
      p = slash < 0 ? '' : p.slice(slash + 1);
      if ((p === '' || targets) && resolved.has(current)) return;
      if (targets) {
        resolved.add(current);
        for (const target of targets) await append(posix.join(target, p), depth + 1);
        return;
      }
      if (p === '') {
        resolved.add(current);
        return;
      }
    }
  };
  for (const p of paths) await append(p, 0);
  return dedupePaths([...resolved].sort(compareNames));
}

function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}
