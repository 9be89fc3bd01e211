import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { FilePathNotFoundError, FileSystemError } from './errors.js';
import { resolveInRoot } from './root-path.js';

/** Whether a path element holds `*`, `?` or `[` not escaped by `\` (Go's containsWildcards). */
export function hasWildcards(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/**
 * Splits a path at its first element with wildcards: `/w/*.txt` → `/w` and `*.txt`. `glob` is
 * empty when there are none.
 */
export function splitWildcards(path: string): { dir: string; glob: string } {
  const parts = posix.normalize(path).split('/');
  const i = parts.findIndex((p) => hasWildcards(p));
  if (i < 0) return { dir: posix.normalize(path), glob: '' };
  const dir = parts.slice(0, i).join('/');
  return { dir: dir === '' ? (path.startsWith('/') ? '/' : '.') : dir, glob: parts.slice(i).join('/') };
}

const compiled = new Map<string, RegExp | null>();

/**
 * Go's filepath.Match on Unix: `*` and `?` never match `/`, `[…]` classes (with `^`, ranges and
 * `\` escapes) match any one character, `\` escapes. A malformed pattern matches nothing.
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = compileGlob(pattern);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re !== null && re.test(name);
}

function compileGlob(pattern: string): RegExp | null {
  const chars = Array.from(pattern);
  let out = '^';
  let i = 0;
  const escaped = (): string | null => {
    // One class bound: `-` and `]` must be escaped; `\` escapes anything.
    let c = chars[i];
    if (c === undefined || c === '-' || c === ']') return null;
    if (c === '\\') {
      i++;
      c = chars[i];
      if (c === undefined) return null;
    }
    i++;
    return c;
  };
  while (i < chars.length) {
    const c = chars[i++] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      if (i >= chars.length) return null;
      out += literal(chars[i++] as string);
    } else if (c === '[') {
      let negated = false;
      if (chars[i] === '^') {
        negated = true;
        i++;
      }
      let ranges = '';
      let count = 0;
      for (;;) {
        if (chars[i] === ']' && count > 0) {
          i++;
          break;
        }
        const lo = escaped();
        if (lo === null) return null;
        let hi = lo;
        if (chars[i] === '-') {
          i++;
          const h = escaped();
          if (h === null) return null;
          hi = h;
        }
        count++;
        // A reversed range is not an error in Go; it just never matches.
        if ((lo.codePointAt(0) as number) <= (hi.codePointAt(0) as number))
          ranges += `${literal(lo)}-${literal(hi)}`;
      }
      out += negated ? `[^${ranges}]` : ranges === '' ? '(?!)' : `[${ranges}]`;
    } else out += literal(c);
  }
  return new RegExp(`${out}$`, 'u');
}

function literal(c: string): string {
  return `\\u{${(c.codePointAt(0) as number).toString(16)}}`;
}

/**
 * The paths inside `root` that a wildcard path names, in Go's walk order (byte-sorted, a matching
 * directory not entered), as BuildKit's ResolveWildcards: the part before the first wildcard
 * element is resolved in the root (its last element followed only with `followLinks`), then
 * walked without following links. A path without wildcards is returned cleaned, unchecked.
 * Throws FilePathNotFoundError when the directory part does not exist.
 */
export async function resolveWildcards(root: string, path: string, followLinks: boolean): Promise<string[]> {
  const { dir, glob } = splitWildcards(posix.normalize(`/${path}`));
  if (glob === '') return [dir];
  const base = await resolveInRoot(root, dir, { followLast: followLinks });
  const depth = glob.split('/').length;
  const out: string[] = [];
  const walk = async (host: string, inRoot: string, rel: string, level: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(host, { withFileTypes: true });
    } catch (err) {
      throw new FileSystemError({ operation: 'read directory', path: inRoot, cause: err });
    }
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const childRoot = posix.join(inRoot, entry.name);
      if (globMatch(glob, childRel)) {
        out.push(childRoot);
        continue;
      }
      // A name can only match with as many elements as the pattern has.
      if (entry.isDirectory() && level + 1 < depth)
        await walk(`${host}/${entry.name}`, childRoot, childRel, level + 1);
    }
  };
  let isDir: boolean;
  try {
    isDir = (await lstat(base.host)).isDirectory();
  } catch (err) {
    throw new FilePathNotFoundError({ path: base.path, tree: 'source', what: 'directory', cause: err });
  }
  if (isDir) await walk(base.host, base.path, '', 0);
  return out;
}
