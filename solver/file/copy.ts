import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { PathFilter } from '../../llb/index.js';
import type { FileActionCopy } from '../../proto/gen/pb/ops_pb.js';
import { TreeCopier } from './copy-tree.js';
import { FilePathNotFoundError, InvalidFileActionError, WildcardNoMatchError } from './errors.js';
import type { InfoPolicy } from './file-info.js';
import { mkdirAll } from './mkdir-all.js';
import { parseModeStr } from './mode-str.js';
import type { Owner } from './owner.js';
import { goBase, resolveInRoot } from './root-path.js';
import { nsToSeconds } from './timestamp.js';
import { tryUnpack } from './unpack.js';
import { resolveWildcards } from './wildcard.js';

/** Where a copy reads and writes, and with which owner (already resolved from the ChownOpt). */
export interface CopyTarget {
  /** The writable tree (host path, absolute, no trailing slash). */
  readonly root: string;
  /** The read-only source tree (host path). */
  readonly source: string;
  readonly owner: Owner | undefined;
  /** Regular files may become hardlinks of the source's (see ApplyOptions.linkFiles). */
  readonly linkFiles?: boolean;
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/**
 * Runs a FileActionCopy as BuildKit v0.11.6 does (plus the later `modeStr` and
 * `alwaysReplaceExistingDestPaths`): wildcard sources expand to several copies, each archive
 * source may be unpacked instead (`attemptUnpackDockerCompatibility`), and each copy lands at the
 * destination by the trailing-slash and existing-directory rules of fsutil's copier.
 */
export async function copyAction(action: FileActionCopy, target: CopyTarget): Promise<void> {
  const srcPath = keepSuffix(action.src);
  const destPath = keepSuffix(action.dest);
  if (!action.createDestPath) {
    const resolved = await resolveInRoot(target.root, action.dest);
    const parent = posix.dirname(resolved.host);
    if (!(await exists(parent))) {
      throw new FilePathNotFoundError({
        path: posix.dirname(resolved.path),
        tree: 'destination',
        what: 'directory',
      });
    }
  }
  const policy = infoPolicy(action, target.owner);
  let filter: PathFilter | undefined;
  try {
    const f = new PathFilter({
      includePatterns: action.includePatterns,
      excludePatterns: action.excludePatterns,
    });
    filter = f.empty ? undefined : f;
  } catch (err) {
    throw new InvalidFileActionError({ action: 'copy', reason: (err as Error).message, cause: err });
  }
  let sources = [srcPath];
  if (action.allowWildcard) {
    sources = await resolveWildcards(target.source, srcPath, action.followSymlink);
    if (sources.length === 0) {
      if (action.allowEmptyWildcard) return;
      throw new WildcardNoMatchError({ pattern: posix.normalize(`/${action.src}`) });
    }
  }
  for (const src of sources) {
    target.signal?.throwIfAborted();
    if (action.attemptUnpackDockerCompatibility) {
      const unpacked = await tryUnpack({
        ...target,
        src,
        dest: destPath,
        owner: target.owner,
        time: policy.time,
      });
      if (unpacked) continue;
    }
    await copyOne(src, destPath, action, policy, filter, target);
  }
}

/** fsutil's Copy of one source path. */
async function copyOne(
  src: string,
  dest: string,
  action: FileActionCopy,
  policy: InfoPolicy,
  filter: PathFilter | undefined,
  target: CopyTarget,
): Promise<void> {
  const dirOptions = { mode: 0o755, owner: target.owner, time: policy.time };
  // A destination ending in `/` or `/.` is a directory to create; otherwise only its parent.
  const ensure = dest.endsWith('/') || dest.endsWith('/.') ? dest : posix.dirname(dest);
  await mkdirAll(target.root, (await resolveInRoot(target.root, ensure)).host, dirOptions);
  const destHost = (await resolveInRoot(target.root, dest)).host;

  const clean = posix.normalize(`/${src}`);
  const srcHost =
    clean === '/'
      ? target.source
      : (await resolveInRoot(target.source, clean, { followLast: action.followSymlink })).host;
  let srcSt: Stats;
  try {
    srcSt = await lstat(srcHost);
  } catch (err) {
    throw new FilePathNotFoundError({ path: clean, tree: 'source', what: 'copy source', cause: err });
  }
  const destSt = await lstatOrUndefined(destHost);
  let finalDest = destHost;
  if (
    (!action.dirCopyContents && srcSt.isDirectory() && destSt !== undefined) ||
    (!srcSt.isDirectory() && destSt?.isDirectory() === true)
  ) {
    finalDest = posix.join(destHost, goBase(src));
  }
  const parent =
    action.dirCopyContents && srcSt.isDirectory() && destSt === undefined
      ? finalDest
      : posix.dirname(finalDest);
  await mkdirAll(target.root, parent, dirOptions);

  // A shared inode keeps the source's metadata, so only a copy that changes none of it may link;
  // and not where archives may be unpacked, whose hardlink entries set metadata on their targets.
  const keepsMetadata =
    policy.owner === undefined &&
    policy.mode === undefined &&
    policy.time === undefined &&
    !action.attemptUnpackDockerCompatibility;
  const copier = new TreeCopier({
    policy,
    filter,
    linkFiles: target.linkFiles === true && keepsMetadata,
    alwaysReplace: action.alwaysReplaceExistingDestPaths,
    srcRoot: target.source,
    destRoot: target.root,
    ...(target.concurrency === undefined ? {} : { concurrency: target.concurrency }),
    ...(target.signal === undefined ? {} : { signal: target.signal }),
    ...(target.logger === undefined ? {} : { logger: target.logger }),
  });
  await copier.copy(srcHost, finalDest);
}

function infoPolicy(action: FileActionCopy, owner: Owner | undefined): InfoPolicy {
  let mode: InfoPolicy['mode'];
  if (action.modeStr !== '') {
    const set = parseModeStr(action.modeStr);
    mode = (m, isDir) => set.apply(m, isDir);
  } else if (action.mode !== -1) {
    // v0.11.6 replaces the permission bits and keeps setuid, setgid and sticky of the source.
    const perm = action.mode & 0o777;
    mode = (m) => (m & ~0o777) | perm;
  }
  return { owner, mode, time: nsToSeconds(action.timestamp) };
}

/** BuildKit's cleanPath: `/`-rooted and clean, but a trailing `/` or `/.` kept (it means "into"). */
function keepSuffix(path: string): string {
  const clean = posix.normalize(`/${path}`).replace(/(.)\/$/, '$1');
  if (path.endsWith('/.')) return clean === '/' ? '/.' : `${clean}/.`;
  if (path.endsWith('/') && clean !== '/') return `${clean}/`;
  return clean;
}

async function exists(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path)) !== undefined;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
