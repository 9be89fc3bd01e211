import type { ErrorKind } from '../../oci/index.js';
import type { Status } from '../../proto/gen/google/rpc/status_pb.js';
import { kindOfCode } from './status.js';

/**
 * An LLBBridge call the daemon answered with an error status. `message` is the daemon's message
 * unchanged, so a frontend that lets the error through reports exactly what the daemon said;
 * `status` keeps the typed details (failing vertex, Dockerfile lines) for the same reason.
 */
export class GatewayCallError extends Error {
  readonly code = 'KILN_GATEWAY_CALL' as const;
  readonly kind: ErrorKind;
  readonly method: string;
  readonly grpcCode: number;
  /** The full status with its details, when the daemon sent `grpc-status-details-bin`. */
  readonly status: Status | undefined;

  constructor(opts: { method: string; grpcCode: number; message: string; status?: Status; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayCallError';
    this.method = opts.method;
    this.grpcCode = opts.grpcCode;
    this.kind = kindOfCode(opts.grpcCode);
    this.status = opts.status;
  }
}

/** The connection to the daemon (the frontend's stdin/stdout) broke or closed mid-call. */
export class GatewayConnectionError extends Error {
  readonly code = 'KILN_GATEWAY_CONNECTION' as const;
  readonly kind: ErrorKind = 'unavailable';
  readonly method: string | undefined;

  constructor(opts: { message: string; method?: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayConnectionError';
    this.method = opts.method;
  }
}

/**
 * The process is not running as a gateway frontend the way the daemon should start it: a missing
 * or malformed `BUILDKIT_*` variable, or a daemon without a capability the SDK relies on.
 */
export class FrontendEnvironmentError extends Error {
  readonly code = 'KILN_GATEWAY_ENVIRONMENT' as const;
  readonly kind: ErrorKind = 'failed-precondition';
  readonly what: string;

  constructor(opts: { what: string; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FrontendEnvironmentError';
    this.what = opts.what;
  }
}

/**
 * A Dockerfile asked for an external frontend (`# syntax=` or `BUILDKIT_SYNTAX`) whose image
 * cannot be resolved, and the build did not allow falling back to the built-in frontend.
 */
export class SyntaxFrontendUnavailableError extends Error {
  readonly code = 'KILN_GATEWAY_SYNTAX_FRONTEND' as const;
  readonly kind: ErrorKind;
  /** The image named by the directive. */
  readonly image: string;

  constructor(opts: { image: string; fallbackOption: string; cause: unknown }) {
    const reason = opts.cause instanceof Error ? opts.cause.message : String(opts.cause);
    super(
      `the syntax directive names a frontend that cannot be used (${reason}); ` +
        `pass --opt ${opts.fallbackOption}=true to build with kiln's built-in Dockerfile frontend instead`,
      { cause: opts.cause },
    );
    this.name = 'SyntaxFrontendUnavailableError';
    this.image = opts.image;
    const kind = (opts.cause as { kind?: unknown } | undefined)?.kind;
    this.kind = kind === 'not-found' || kind === 'permission-denied' ? kind : 'unavailable';
  }
}

/** A process in a gateway container could not be run (the daemon refused it or the stream broke). */
export class ContainerProcessError extends Error {
  readonly code = 'KILN_GATEWAY_PROCESS' as const;
  readonly kind: ErrorKind;
  readonly containerId: string;

  constructor(opts: { containerId: string; message: string; kind?: ErrorKind; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ContainerProcessError';
    this.containerId = opts.containerId;
    this.kind = opts.kind ?? 'unknown';
  }
}
