import type { ErrorKind } from '../oci/index.js';
import type { SourceLocation } from './llb-view.js';

/** A step failed; carries the vertex so clients can point at it (and at its Dockerfile line). */
export class VertexError extends Error {
  readonly code = 'KILN_SOLVER_VERTEX_FAILED' as const;
  readonly kind: ErrorKind;
  constructor(
    readonly vertex: { readonly digest: string; readonly name: string },
    cause: unknown,
    /** The Dockerfile (or other source) lines the op came from, when the definition says. */
    readonly source?: SourceLocation,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'VertexError';
    const kind = (cause as { kind?: unknown } | undefined)?.kind;
    this.kind = typeof kind === 'string' ? (kind as ErrorKind) : 'internal';
  }
}

/** The job was cancelled (its client went away, or Solve was cancelled). */
export class JobCanceledError extends Error {
  readonly kind: ErrorKind = 'canceled';
  readonly code = 'KILN_SOLVER_CANCELED' as const;
  constructor(readonly ref: string) {
    super(`build ${ref} was canceled`);
    this.name = 'JobCanceledError';
  }
}

/** A build reference that no job has registered (in time). */
export class JobNotFoundError extends Error {
  readonly kind: ErrorKind = 'not-found';
  readonly code = 'KILN_SOLVER_NO_SUCH_JOB' as const;
  constructor(readonly ref: string) {
    super(`no such job ${ref}`);
    this.name = 'JobNotFoundError';
  }
}

/** A job ref already in use. */
export class JobExistsError extends Error {
  readonly kind: ErrorKind = 'already-exists';
  readonly code = 'KILN_SOLVER_JOB_EXISTS' as const;
  constructor(readonly ref: string) {
    super(`a build with ref ${ref} is already running`);
    this.name = 'JobExistsError';
  }
}

/** A request the solver cannot serve as given (unknown frontend, bad ref id, …). */
export class SolveRequestError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_SOLVER_BAD_REQUEST' as const;
  constructor(message: string, kind: ErrorKind = 'invalid-argument', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SolveRequestError';
    this.kind = kind;
  }
}
