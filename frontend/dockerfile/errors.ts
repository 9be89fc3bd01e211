import type { ErrorKind } from '../../oci/index.js';
import { goQuote } from './go-text.js';

/**
 * A Dockerfile that cannot be parsed, or an instruction that is invalid. Lines are 1-based and
 * inclusive; phase 2 attaches them to the LLB source map so `buildctl` prints the offending lines.
 * `message` is what BuildKit prints (e.g. `dockerfile parse error on line 3: unknown instruction:
 * FOO`); `reason` is the bare cause without the line prefix.
 */
export class DockerfileError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_DOCKERFILE_INVALID' as const;
  readonly startLine: number;
  readonly endLine: number;
  readonly reason: string;

  constructor(opts: {
    reason: string;
    startLine: number;
    endLine?: number;
    message?: string;
    cause?: unknown;
  }) {
    super(opts.message ?? opts.reason, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DockerfileError';
    this.reason = opts.reason;
    this.startLine = opts.startLine;
    this.endLine = Math.max(opts.endLine ?? opts.startLine, opts.startLine);
  }
}

/**
 * A word the shell lexer cannot expand: a syntax error (`${`, unterminated quotes, bad modifier,
 * bad pattern) or a `${V?msg}` / `${V:?msg}` check that failed. Message as BuildKit's:
 * `failed to process "<word>": <reason>`.
 */
export class WordExpansionError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_DOCKERFILE_EXPANSION' as const;
  readonly word: string;
  readonly reason: string;

  constructor(opts: { word: string; reason: string }) {
    super(`failed to process ${goQuote(opts.word)}: ${opts.reason}`);
    this.name = 'WordExpansionError';
    this.word = opts.word;
    this.reason = opts.reason;
  }
}

/** A frontend option (`build-arg:SOURCE_DATE_EPOCH`, `platform`, …) has a value the frontend cannot use. */
export class BuildOptionError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_DOCKERFILE_OPTION' as const;
  readonly option: string;
  readonly value: string;

  constructor(opts: { option: string; value: string; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BuildOptionError';
    this.option = opts.option;
    this.value = opts.value;
  }
}

/** The requested `--target` names no stage of the Dockerfile. */
export class TargetNotFoundError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_DOCKERFILE_TARGET' as const;
  readonly target: string;

  constructor(opts: { target: string }) {
    super(`target stage ${opts.target} could not be found`);
    this.name = 'TargetNotFoundError';
    this.target = opts.target;
  }
}

/**
 * Attaches lines to a failure found while working on an instruction: a DockerfileError passes
 * through, another Error becomes a DockerfileError with the same message and the original as cause.
 */
export function atLines(err: unknown, lines: { start: number; end: number }, prefix = ''): unknown {
  if (err instanceof DockerfileError || !(err instanceof Error)) return err;
  return new DockerfileError({
    reason: `${prefix}${err.message}`,
    startLine: lines.start,
    endLine: lines.end,
    cause: err,
  });
}

/** Lines of the Dockerfile an error points at, in the shape the daemon turns into BuildKit's `errdefs.Source` detail. */
export interface ErrorSource {
  readonly filename: string;
  /** The whole Dockerfile, as read. */
  readonly data: Uint8Array;
  readonly language?: string;
  readonly ranges: ReadonlyArray<{
    readonly start: { readonly line: number; readonly character?: number };
    readonly end: { readonly line: number; readonly character?: number };
  }>;
}

/**
 * A frontend failure with the Dockerfile lines it concerns (a parse error, an unknown instruction,
 * a base image that cannot be resolved, …): buildctl prints the lines under the message. Same
 * message and kind as its cause.
 */
export class DockerfileSourceError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_DOCKERFILE_SOURCE' as const;
  readonly source: ErrorSource;

  constructor(opts: { source: ErrorSource; cause: Error & { kind?: ErrorKind } }) {
    super(opts.cause.message, { cause: opts.cause });
    this.name = 'DockerfileSourceError';
    // A DockerfileError only adds lines: the class of what it wraps (an image not found) wins.
    const inner =
      opts.cause instanceof DockerfileError ? (opts.cause.cause as { kind?: ErrorKind }) : undefined;
    this.kind = inner?.kind ?? opts.cause.kind ?? 'invalid-argument';
    this.source = opts.source;
  }
}

/** The Dockerfile (or another file the frontend needs from the client) could not be read. */
export class DockerfileReadError extends Error {
  readonly kind: ErrorKind = 'not-found';
  readonly code = 'KILN_DOCKERFILE_READ' as const;
  readonly path: string;

  constructor(opts: { path: string; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DockerfileReadError';
    this.path = opts.path;
  }
}

/**
 * The caller asked for something this frontend does not do: a frontend capability
 * (`frontend.caps`), a subrequest (`requestid`), or a kind of named context kiln cannot load yet.
 */
export class FrontendUnsupportedError extends Error {
  readonly kind: ErrorKind = 'unimplemented';
  readonly code = 'KILN_DOCKERFILE_UNSUPPORTED' as const;
  readonly what: string;

  constructor(opts: { what: string; message: string }) {
    super(opts.message);
    this.name = 'FrontendUnsupportedError';
    this.what = opts.what;
  }
}
