import type { ErrorKind } from '../../oci/index.js';

/**
 * The root of every FileOp action failure. Callers switch on `kind` and `code`, never on the
 * message. Paths in fields and messages are paths inside the action's tree (`/etc/passwd`), never
 * host paths, because they are shown to the user who wrote the build.
 */
export abstract class FileActionError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: string;
}

/** The action itself is malformed: an empty path, a bad pattern or symbolic mode, no action set. */
export class InvalidFileActionError extends FileActionError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SOLVER_FILE_INVALID_ACTION' as const;
  readonly action: string;
  readonly reason: string;
  constructor(options: { action: string; reason: string; cause?: unknown }) {
    super(`invalid ${options.action} action: ${options.reason}`, { cause: options.cause });
    this.name = 'InvalidFileActionError';
    this.action = options.action;
    this.reason = options.reason;
  }
}

/** A path the action needs does not exist (a copy source, the parent of a destination, an rm target). */
export class FilePathNotFoundError extends FileActionError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_SOLVER_FILE_NOT_FOUND' as const;
  readonly path: string;
  /** Which tree the path was looked up in. */
  readonly tree: 'source' | 'destination';
  constructor(options: { path: string; tree: 'source' | 'destination'; what?: string; cause?: unknown }) {
    super(`${options.what ?? 'path'} ${options.path} does not exist in the ${options.tree} tree`, {
      cause: options.cause,
    });
    this.name = 'FilePathNotFoundError';
    this.path = options.path;
    this.tree = options.tree;
  }
}

/** A wildcard copy source matched nothing and the action does not allow an empty match. */
export class WildcardNoMatchError extends FileActionError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_SOLVER_FILE_NO_MATCH' as const;
  readonly pattern: string;
  constructor(options: { pattern: string }) {
    super(`${options.pattern} matched no files in the source tree`);
    this.name = 'WildcardNoMatchError';
    this.pattern = options.pattern;
  }
}

/** An existing entry has the wrong type for what the action must do with it. */
export class FileTypeConflictError extends FileActionError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SOLVER_FILE_TYPE_CONFLICT' as const;
  readonly path: string;
  /** What the action needed at `path`. */
  readonly expected: 'directory' | 'non-directory' | 'absent';
  constructor(options: {
    path: string;
    expected: 'directory' | 'non-directory' | 'absent';
    cause?: unknown;
  }) {
    const want =
      options.expected === 'directory'
        ? 'a directory'
        : options.expected === 'absent'
          ? 'absent'
          : 'not a directory';
    super(`${options.path} exists with the wrong type: it must be ${want}`, { cause: options.cause });
    this.name = 'FileTypeConflictError';
    this.path = options.path;
    this.expected = options.expected;
  }
}

/** Resolving a path met more than 255 symbolic links (a loop, or a hostile tree). */
export class TooManySymlinksError extends FileActionError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SOLVER_FILE_SYMLINK_LOOP' as const;
  readonly path: string;
  constructor(options: { path: string }) {
    super(`resolving ${options.path} followed more than 255 symbolic links`);
    this.name = 'TooManySymlinksError';
    this.path = options.path;
  }
}

/** A user or group name is not listed in the /etc/passwd or /etc/group of the input that names it. */
export class UnknownOwnerError extends FileActionError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SOLVER_FILE_UNKNOWN_OWNER' as const;
  readonly ownerName: string;
  readonly database: 'passwd' | 'group';
  readonly input: number;
  constructor(options: { name: string; database: 'passwd' | 'group'; input: number }) {
    const what = options.database === 'passwd' ? 'user' : 'group';
    super(
      `${what} ${JSON.stringify(options.name)} is not listed in /etc/${options.database} of input ${options.input}`,
    );
    this.name = 'UnknownOwnerError';
    this.ownerName = options.name;
    this.database = options.database;
    this.input = options.input;
  }
}

/** An archive being unpacked (ADD) is corrupt, or has an entry that would land outside the destination. */
export class ArchiveError extends FileActionError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SOLVER_FILE_BAD_ARCHIVE' as const;
  readonly archive: string;
  readonly entry: string | undefined;
  constructor(options: { archive: string; entry?: string; reason: string; cause?: unknown }) {
    const where = options.entry === undefined ? '' : ` (entry ${JSON.stringify(options.entry)})`;
    super(`cannot unpack ${options.archive}${where}: ${options.reason}`, { cause: options.cause });
    this.name = 'ArchiveError';
    this.archive = options.archive;
    this.entry = options.entry;
  }
}

/** An unexpected filesystem failure; `kind` comes from the errno (ENOSPC is resource-exhausted…). */
export class FileSystemError extends FileActionError {
  readonly kind: ErrorKind;
  readonly code = 'KILN_SOLVER_FILE_IO' as const;
  readonly path: string;
  readonly operation: string;
  readonly errno: string | undefined;
  constructor(options: { operation: string; path: string; cause: unknown }) {
    const errno = (options.cause as NodeJS.ErrnoException | undefined)?.code;
    const nul = options.path.includes('\0');
    const reason = errno === 'ERR_INVALID_ARG_VALUE' && nul ? 'the path contains a NUL byte' : errno;
    super(
      `${options.operation} ${nul ? JSON.stringify(options.path) : options.path} failed: ${reason ?? String(options.cause)}`,
      { cause: options.cause },
    );
    this.name = 'FileSystemError';
    this.path = options.path;
    this.operation = options.operation;
    this.errno = errno;
    this.kind = kindOfErrno(errno);
  }
}

/** The action was aborted through its signal. */
export class FileActionCanceledError extends FileActionError {
  readonly kind = 'canceled' as const;
  readonly code = 'KILN_SOLVER_FILE_CANCELED' as const;
  constructor(options: { cause?: unknown } = {}) {
    super('file action was canceled', { cause: options.cause });
    this.name = 'FileActionCanceledError';
  }
}

function kindOfErrno(errno: string | undefined): ErrorKind {
  switch (errno) {
    case 'ENOENT':
      return 'not-found';
    case 'EEXIST':
    case 'ENOTEMPTY':
      return 'already-exists';
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ELOOP':
    case 'EXDEV':
      return 'failed-precondition';
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EMFILE':
    case 'ENFILE':
      return 'resource-exhausted';
    case 'EINVAL':
    case 'ENAMETOOLONG':
    case 'ERR_INVALID_ARG_VALUE': // Node's refusal of a path with a NUL byte
      return 'invalid-argument';
    default:
      return 'internal';
  }
}
