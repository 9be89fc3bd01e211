import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { TooManySymlinksError } from './errors.js';

/** The most symbolic links one resolution may follow (as BuildKit's continuity RootPath). */
const maxLinks = 255;

/** A path resolved inside a root directory. */
export interface RootedPath {
  /** The path on the host: `root` joined with `path`. */
  readonly host: string;
  /** The clean absolute path inside the root (`/` for the root itself), free of symbolic links. */
  readonly path: string;
}

/**
 * Resolves `path` inside `root` as a chroot would: the path is cleaned lexically first (`..`
 * stops at `/`), then every symbolic link met is followed inside the root, an absolute target
 * restarting from the root and `..` in a target never climbing above it, so the result cannot
 * name anything outside `root`. Components that do not exist are kept as written. With
 * `followLast: false` the final component is never followed (it names the link itself), while
 * its parents still are. Costs one lstat per component plus one readlink per link.
 * Throws TooManySymlinksError after 255 links (loops).
 */
export async function resolveInRoot(
  root: string,
  path: string,
  options: { followLast?: boolean } = {},
): Promise<RootedPath> {
  const followLast = options.followLast ?? true;
  const pending = components(posix.normalize(`/${path}`)).reverse();
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    if (pending.length === 0 && !followLast) {
      resolved.push(name);
      break;
    }
    const host = hostPath(root, [...resolved, name]);
    const target = await linkTarget(host);
    if (target === undefined) {
      resolved.push(name);
      continue;
    }
    if (++links > maxLinks) throw new TooManySymlinksError({ path: posix.normalize(`/${path}`) });
    if (target.startsWith('/')) resolved.length = 0;
    // `..` inside the target is cleaned lexically (the resolved prefix holds no links); leading
    // `..` pop resolved directories and stop at the root.
    const parts = components(posix.normalize(target));
    for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i] as string);
  }
  return { host: hostPath(root, resolved), path: `/${resolved.join('/')}` };
}

/** The target of the symbolic link at `host`, or undefined when it is not a link or does not exist. */
async function linkTarget(host: string): Promise<string | undefined> {
  try {
    const st = await lstat(host);
    if (!st.isSymbolicLink()) return undefined;
    return await readlink(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

function components(clean: string): string[] {
  return clean.split('/').filter((c) => c !== '' && c !== '.');
}

function hostPath(root: string, parts: readonly string[]): string {
  return parts.length === 0 ? root : `${root === '/' ? '' : root}/${parts.join('/')}`;
}

/** Go's filepath.Clean of `/`+path: the form BuildKit gives every action path before use. */
export function cleanAbs(path: string): string {
  const clean = posix.normalize(`/${path}`);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** Go's filepath.Base: the last element, trailing slashes ignored; `/` for the root, `.` for ''. */
export function goBase(path: string): string {
  if (path === '') return '.';
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Splits a clean absolute path into its parent and last element (`/a/b` → `/a`, `b`). */
export function splitParent(clean: string): { parent: string; base: string } {
  const i = clean.lastIndexOf('/');
  return { parent: i <= 0 ? '/' : clean.slice(0, i), base: clean.slice(i + 1) };
}
