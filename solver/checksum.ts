import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type Database from 'better-sqlite3';
import { PathFilter } from '../llb/index.js';
import type { Selector } from './op.js';
import type { EntryInfo, TreeSource } from './tree-source.js';

/** A selector that names nothing in the tree (COPY of a missing file). */
export class ChecksumNotFoundError extends Error {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_SOLVER_CHECKSUM_NOT_FOUND' as const;
  constructor(readonly path: string) {
    super(`failed to compute cache key: "${path}" not found`);
    this.name = 'ChecksumNotFoundError';
  }
}

const maxLinkHops = 40;

function header(info: EntryInfo): string {
  const xattrs = [...info.xattrs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`)
    .join(',');
  return `${info.type}|${info.mode.toString(8)}|${info.uid}|${info.gid}|${info.linkname}|${info.devmajor}:${info.devminor}|${xattrs}`;
}

function sha(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/**
 * Content checksums of selected paths of a tree, as cache keys use them: content, names, modes,
 * ownership, types, link targets and xattrs count; modification times never do. Symlinks are
 * followed (when asked) only inside the tree.
 */
export class TreeChecksummer {
  constructor(private readonly tree: TreeSource) {}

  async checksum(selector: Selector): Promise<string> {
    const filter =
      selector.includePatterns?.length || selector.excludePatterns?.length
        ? new PathFilter({
            ...(selector.includePatterns ? { includePatterns: selector.includePatterns } : {}),
            ...(selector.excludePatterns ? { excludePatterns: selector.excludePatterns } : {}),
          })
        : undefined;
    const path = clean(selector.path);
    if (selector.wildcard && /[*?[]/.test(path)) {
      const matches = await this.#glob(path);
      // No match is a valid (empty) selection: whether that is an error is the copy's decision.
      const parts = await Promise.all(matches.map(async (m) => `${m}:${await this.#entry(m, filter, true)}`));
      return sha(`wildcard|${parts.join('|')}`);
    }
    const target = await this.#resolve(path, selector.followLinks);
    return this.#entry(target, filter, true);
  }

  // Paths matching a pattern whose components may hold globs (such as sub/STAR/leaf), sorted.
  async #glob(path: string): Promise<string[]> {
    let current = [''];
    for (const component of path.split('/')) {
      const next: string[] = [];
      for (const dir of current) {
        if (!/[*?[]/.test(component)) {
          const candidate = join(dir, component);
          if (await this.tree.info(candidate)) next.push(candidate);
          continue;
        }
        const resolved = await this.#resolve(dir, true).catch(() => undefined);
        if (resolved === undefined) continue;
        const info = await this.tree.info(resolved);
        if (info?.type !== 'dir' && resolved !== '') continue;
        const pattern = globRegExp(component);
        for (const name of (await this.tree.list(resolved)).sort()) {
          if (pattern.test(name)) next.push(join(resolved, name));
        }
      }
      current = next;
    }
    return current.sort();
  }

  /** Resolves symlinks in `path` (in its parents always, in the last element when `followLast`). */
  async #resolve(path: string, followLast: boolean): Promise<string> {
    let hops = 0;
    const parts = path === '' ? [] : path.split('/');
    let resolved = '';
    for (let i = 0; i < parts.length; i++) {
      const candidate = join(resolved, parts[i]!);
      const info = await this.tree.info(candidate);
      if (!info) throw new ChecksumNotFoundError(`/${path}`);
      if (info.type === 'symlink' && (i < parts.length - 1 || followLast)) {
        if (++hops > maxLinkHops) throw new ChecksumNotFoundError(`/${path}`);
        const target = info.linkname.startsWith('/') ? info.linkname : `${resolved}/${info.linkname}`;
        const rest = parts.slice(i + 1);
        parts.splice(0, parts.length, ...clean(target).split('/').filter(Boolean), ...rest);
        resolved = '';
        i = -1;
        continue;
      }
      resolved = candidate;
    }
    return resolved;
  }

  async #entry(path: string, filter: PathFilter | undefined, top: boolean): Promise<string> {
    const info = await this.tree.info(path);
    if (!info) throw new ChecksumNotFoundError(`/${path}`);
    if (info.type === 'file') return sha(`${header(info)}|${await this.tree.contentDigest(path)}`);
    if (info.type !== 'dir') return sha(header(info));
    const children = await this.#children(path, filter);
    // The selected directory's own metadata is left out: copies take its contents, not it.
    return sha(`${top ? 'dir' : header(info)}|${children.join('|')}`);
  }

  async #children(dir: string, filter: PathFilter | undefined): Promise<string[]> {
    const names = (await this.tree.list(dir)).sort();
    const out: string[] = [];
    // Bounded fan-out keeps wide trees fast without opening thousands of files at once.
    for (let i = 0; i < names.length; i += 32) {
      const batch = await Promise.all(
        names.slice(i, i + 32).map(async (name) => {
          const child = join(dir, name);
          if (filter) {
            const info = await this.tree.info(child);
            const decision = filter.check(child, info?.type === 'dir', undefined);
            if (!decision.keep && !decision.descend) return undefined;
          }
          return `${name}:${await this.#entry(child, filter, false)}`;
        }),
      );
      for (const part of batch) if (part) out.push(part);
    }
    return out;
  }
}

function clean(path: string): string {
  const normalised = posix.normalize(`/${path}`);
  return normalised === '/' ? '' : normalised.replace(/^\/+/, '').replace(/\/+$/, '');
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function globRegExp(glob: string): RegExp {
  let source = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        source += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) source += `\\${glob[++i]}`;
    else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${source}$`);
}

/** Memoised checksums per immutable snapshot and selector, so an unchanged tree is hashed once. */
export class ChecksumMemo {
  readonly #get: Database.Statement<[string, string], { digest: string }>;
  readonly #put: Database.Statement<[string, string, string]>;

  constructor(options: { db: Database.Database }) {
    options.db.exec(`CREATE TABLE IF NOT EXISTS solver_checksums (
      snapshot TEXT NOT NULL, selector TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (snapshot, selector)
    ) WITHOUT ROWID`);
    this.#get = options.db.prepare('SELECT digest FROM solver_checksums WHERE snapshot = ? AND selector = ?');
    this.#put = options.db.prepare(
      'INSERT OR REPLACE INTO solver_checksums (snapshot, selector, digest) VALUES (?, ?, ?)',
    );
  }

  get(snapshot: string, selector: string): string | undefined {
    return this.#get.get(snapshot, selector)?.digest;
  }

  put(snapshot: string, selector: string, digest: string): void {
    this.#put.run(snapshot, selector, digest);
  }
}
