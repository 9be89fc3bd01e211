import type { ErrorKind } from '../../oci/index.js';

/** gateway.v0 was asked to run nothing: the `source` option names no frontend image. */
export class FrontendSourceMissingError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_NO_SOURCE' as const;
  readonly kind: ErrorKind = 'invalid-argument';
  constructor() {
    super('gateway.v0 needs the frontend image to run: pass --opt source=<image reference>');
    this.name = 'FrontendSourceMissingError';
  }
}

/** The build requires a frontend capability (`frontend.caps`, inputs) the frontend image lacks. */
export class FrontendCapsError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_CAPS' as const;
  readonly kind: ErrorKind = 'unimplemented';
  readonly cap: string;
  constructor(opts: { image: string; cap: string }) {
    super(
      `frontend ${opts.image} does not support ${opts.cap} (its label moby.buildkit.frontend.caps does not list it)`,
    );
    this.name = 'FrontendCapsError';
    this.cap = opts.cap;
  }
}

/**
 * The frontend image cannot be resolved (unknown, unreachable registry, denied). The `# syntax=`
 * hand-off recognises this code to fall back to the built-in frontend when the build allows it.
 */
export class FrontendImageUnavailableError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_UNAVAILABLE' as const;
  readonly kind: ErrorKind;
  readonly image: string;
  constructor(opts: { image: string; cause: unknown }) {
    const reason = opts.cause instanceof Error ? opts.cause.message : String(opts.cause);
    super(`frontend image ${opts.image} cannot be resolved: ${reason}`, { cause: opts.cause });
    this.name = 'FrontendImageUnavailableError';
    this.image = opts.image;
    const kind = (opts.cause as { kind?: unknown } | undefined)?.kind;
    this.kind =
      kind === 'not-found' || kind === 'permission-denied' || kind === 'canceled' ? kind : 'unavailable';
  }
}

/** The frontend image cannot be run: no filesystem, or its config cannot be read. */
export class FrontendImageError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_IMAGE' as const;
  readonly kind: ErrorKind = 'failed-precondition';
  readonly image: string;
  constructor(opts: { image: string; reason: string; cause?: unknown }) {
    super(
      `frontend image ${opts.image}: ${opts.reason}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = 'FrontendImageError';
    this.image = opts.image;
  }
}

/** The frontend process ended (crashed, or exited) without returning a result. */
export class FrontendExitedError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_EXITED' as const;
  readonly kind: ErrorKind = 'unknown';
  readonly image: string;
  readonly exitCode: number;
  /** The last lines the frontend wrote to stderr. */
  readonly stderr: readonly string[];
  constructor(opts: { image: string; exitCode: number; stderr: readonly string[]; cause?: unknown }) {
    const tail = opts.stderr.length > 0 ? `; its last output:\n${opts.stderr.join('\n')}` : '';
    super(
      `frontend ${opts.image} exited with code ${opts.exitCode} without returning a result${tail}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = 'FrontendExitedError';
    this.image = opts.image;
    this.exitCode = opts.exitCode;
    this.stderr = opts.stderr;
  }
}

/** The frontend made no gateway call for too long and never returned: it was stopped. */
export class FrontendUnresponsiveError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_UNRESPONSIVE' as const;
  readonly kind: ErrorKind = 'unavailable';
  readonly image: string;
  readonly idleMs: number;
  constructor(opts: { image: string; idleMs: number }) {
    super(
      `frontend ${opts.image} was stopped: it made no gateway call for ${Math.round(opts.idleMs / 1000)} s and returned no result`,
    );
    this.name = 'FrontendUnresponsiveError';
    this.image = opts.image;
    this.idleMs = opts.idleMs;
  }
}

/** The frontend broke the LLBBridge contract (unknown ref, a second Return, a bad mount …). */
export class FrontendProtocolError extends Error {
  readonly code = 'KILN_GATEWAY_FRONTEND_PROTOCOL' as const;
  readonly kind: ErrorKind;
  constructor(message: string, kind: ErrorKind = 'invalid-argument') {
    super(message);
    this.name = 'FrontendProtocolError';
    this.kind = kind;
  }
}

/**
 * A process of a gateway container failed; ReleaseContainer reports the first such failure, as
 * BuildKit's does. The message is BuildKit's (`exit code: 3`).
 */
export class ContainerProcessFailedError extends Error {
  readonly code = 'KILN_GATEWAY_CONTAINER_PROCESS' as const;
  readonly kind: ErrorKind = 'unknown';
  readonly exitCode: number;
  constructor(opts: { exitCode: number }) {
    super(`exit code: ${opts.exitCode}`);
    this.name = 'ContainerProcessFailedError';
    this.exitCode = opts.exitCode;
  }
}
