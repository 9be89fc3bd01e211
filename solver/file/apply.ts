import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { FileAction } from '../../proto/gen/pb/ops_pb.js';
import { copyAction } from './copy.js';
import {
  FileActionCanceledError,
  FileActionError,
  FileSystemError,
  InvalidFileActionError,
} from './errors.js';
import { mkdirAction } from './mkdir.js';
import { mkfileAction } from './mkfile.js';
import { type UserLookup, resolveOwner } from './owner.js';
import { rmAction } from './rm.js';
import { symlinkAction } from './symlink.js';

/** Where and how one FileOp action runs. */
export interface ApplyOptions {
  /** The action's writable tree (host path, a directory): its base input's contents, or empty for scratch. */
  readonly root: string;
  /** The read-only tree copies read from (the secondary input); absent means an empty tree. */
  readonly secondary?: string;
  /**
   * Resolves `NamedUserOpt.input` to that input's user database (see readUserDatabase). Needed
   * only when an owner is given by name; without it names fail with UnknownOwnerError.
   */
  readonly userLookup?: UserLookup;
  /**
   * A copy may make regular files hardlinks of the secondary's instead of copying their data. Only
   * when `secondary` is never changed in place (a committed snapshot) and nothing will change the
   * copied files in `root` in place either (later writers replace files, as overlayfs copy-up does).
   */
  readonly linkFiles?: boolean;
  /** Regular files a copy writes at once (default 8). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/**
 * Runs one FileOp action (copy, mkfile, mkdir, rm, symlink) on `root` with BuildKit's semantics.
 * Every path is resolved inside its tree: links are followed only within it, so nothing outside
 * `root` is written and nothing outside `root` and `secondary` is read. The tree is left as far as
 * the action got when it fails (BuildKit discards it). Cost: proportional to what is copied or
 * removed; copies run several files at once. Throws a FileActionError subclass:
 * InvalidFileActionError, FilePathNotFoundError, WildcardNoMatchError, FileTypeConflictError,
 * TooManySymlinksError, UnknownOwnerError, ArchiveError, FileSystemError, or
 * FileActionCanceledError when `signal` aborts.
 */
export async function applyFileAction(action: FileAction, options: ApplyOptions): Promise<void> {
  const root = resolve(options.root);
  await requireDirectory(root);
  const signal = options.signal;
  if (signal?.aborted) throw new FileActionCanceledError({ cause: signal.reason });
  try {
    await run(action, root, options);
  } catch (err) {
    if (signal?.aborted) throw new FileActionCanceledError({ cause: signal.reason });
    if (err instanceof FileActionError) throw err;
    const code = (err as { kind?: unknown; code?: unknown }).code;
    if ((err as { kind?: unknown }).kind === 'invalid-argument' && typeof code === 'string') {
      throw new InvalidFileActionError({
        action: action.action.case ?? 'file',
        reason: (err as Error).message,
        cause: err,
      });
    }
    throw new FileSystemError({ operation: action.action.case ?? 'file action', path: '/', cause: err });
  }
}

async function run(action: FileAction, root: string, options: ApplyOptions): Promise<void> {
  const a = action.action;
  switch (a.case) {
    case 'copy': {
      const owner = await resolveOwner(a.value.owner, options.userLookup);
      await withSource(options.secondary, async (source) => {
        await copyAction(a.value, {
          root,
          source,
          owner,
          ...(options.linkFiles === undefined ? {} : { linkFiles: options.linkFiles }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(options.logger === undefined ? {} : { logger: options.logger }),
        });
      });
      return;
    }
    case 'mkfile':
      return mkfileAction(root, a.value, await resolveOwner(a.value.owner, options.userLookup));
    case 'mkdir':
      return mkdirAction(root, a.value, await resolveOwner(a.value.owner, options.userLookup));
    case 'rm':
      return rmAction(root, a.value);
    case 'symlink':
      return symlinkAction(root, a.value, await resolveOwner(a.value.owner, options.userLookup));
    default:
      throw new InvalidFileActionError({ action: 'file', reason: 'no action is set' });
  }
}

/** A copy from scratch reads an empty tree. */
async function withSource(
  secondary: string | undefined,
  fn: (source: string) => Promise<void>,
): Promise<void> {
  if (secondary !== undefined) {
    const source = resolve(secondary);
    await requireDirectory(source);
    return fn(source);
  }
  const empty = await mkdtemp(join(tmpdir(), 'kiln-fileop-empty-'));
  try {
    await fn(empty);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}

async function requireDirectory(path: string): Promise<void> {
  try {
    if ((await stat(path)).isDirectory()) return;
  } catch (err) {
    throw new FileSystemError({ operation: 'open tree', path, cause: err });
  }
  throw new FileSystemError({ operation: 'open tree', path, cause: new Error('not a directory') });
}
