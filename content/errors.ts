import type { Digest, ErrorKind } from '../oci/index.js';

/** Formats a byte count the way messages show it: `1,204 bytes`. */
function bytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}

/** The root of every content store failure; `kind` and `code` are what callers switch on. */
export abstract class ContentError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: string;
}

export class ContentNotFoundError extends ContentError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_CONTENT_NOT_FOUND' as const;
  readonly digest: Digest;
  constructor(options: { digest: Digest; cause?: unknown }) {
    super(`blob ${options.digest} is not in the content store`, { cause: options.cause });
    this.name = 'ContentNotFoundError';
    this.digest = options.digest;
  }
}

/** A writer was asked for content the store already holds; the caller can use the blob as is. */
export class ContentExistsError extends ContentError {
  readonly kind = 'already-exists' as const;
  readonly code = 'KILN_CONTENT_ALREADY_EXISTS' as const;
  readonly digest: Digest;
  readonly ref: string;
  constructor(options: { digest: Digest; ref: string }) {
    super(`blob ${options.digest} already exists (write ${JSON.stringify(options.ref)} not needed)`);
    this.name = 'ContentExistsError';
    this.digest = options.digest;
    this.ref = options.ref;
  }
}

export class DigestMismatchError extends ContentError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_CONTENT_DIGEST_MISMATCH' as const;
  readonly ref: string;
  readonly expected: Digest;
  readonly actual: Digest;
  constructor(options: { ref: string; expected: Digest; actual: Digest }) {
    super(
      `write ${JSON.stringify(options.ref)}: content has digest ${options.actual}, expected ${options.expected}`,
    );
    this.name = 'DigestMismatchError';
    this.ref = options.ref;
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

export class SizeMismatchError extends ContentError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_CONTENT_SIZE_MISMATCH' as const;
  readonly ref: string;
  readonly expected: number;
  readonly actual: number;
  constructor(options: { ref: string; expected: number; actual: number }) {
    super(
      `write ${JSON.stringify(options.ref)}: content is ${bytes(options.actual)}, expected ${bytes(options.expected)}`,
    );
    this.name = 'SizeMismatchError';
    this.ref = options.ref;
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

export class ContentInUseError extends ContentError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_CONTENT_IN_USE' as const;
  readonly digest: Digest;
  readonly leases: readonly string[];
  constructor(options: { digest: Digest; leases: readonly string[] }) {
    super(`blob ${options.digest} is held by lease ${options.leases.join(', ')}; release it before deleting`);
    this.name = 'ContentInUseError';
    this.digest = options.digest;
    this.leases = options.leases;
  }
}

export class LeaseNotFoundError extends ContentError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_CONTENT_LEASE_NOT_FOUND' as const;
  readonly lease: string;
  constructor(options: { lease: string }) {
    super(`lease ${JSON.stringify(options.lease)} does not exist`);
    this.name = 'LeaseNotFoundError';
    this.lease = options.lease;
  }
}

/** `write`, `commit` or `abort` after the writer was committed or aborted. */
export class WriterClosedError extends ContentError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_CONTENT_WRITER_CLOSED' as const;
  readonly ref: string;
  constructor(options: { ref: string; state: 'committed' | 'aborted' }) {
    super(`write ${JSON.stringify(options.ref)} was already ${options.state}`);
    this.name = 'WriterClosedError';
    this.ref = options.ref;
  }
}

/**
 * The filesystem refused a write into the store (no space left, quota, I/O error). The temp
 * file is removed before this is thrown; `errno` is the system's code (`ENOSPC`).
 */
export class ContentWriteError extends ContentError {
  readonly kind: 'resource-exhausted' | 'internal';
  readonly code = 'KILN_CONTENT_WRITE' as const;
  readonly ref: string;
  readonly errno: string | undefined;
  constructor(options: { ref: string; store: string; offset: number; cause: unknown }) {
    const errno = (options.cause as NodeJS.ErrnoException).code;
    const reason = errno === 'ENOSPC' ? 'no space left on device' : (options.cause as Error).message;
    super(
      `write ${JSON.stringify(options.ref)} into the content store ${options.store} failed after ` +
        `${bytes(options.offset)}: ${reason}${errno === 'ENOSPC' ? ' (ENOSPC)' : ''}`,
      { cause: options.cause },
    );
    this.name = 'ContentWriteError';
    this.kind = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'resource-exhausted' : 'internal';
    this.ref = options.ref;
    this.errno = errno;
  }
}
