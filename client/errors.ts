import type { ErrorKind } from '../oci/index.js';

/** A command-line flag or a client option is malformed (`--output` without `type=`, `--opt x`). */
export class ClientUsageError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_CLIENT_USAGE' as const;
  /** The flag or option at fault, e.g. `--output`. */
  readonly option: string | undefined;
  constructor(options: { message: string; option?: string; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.name = 'ClientUsageError';
    this.option = options.option;
  }
}

/** The daemon address is malformed, or its TLS files cannot be read. */
export class ClientConnectError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_CONNECT' as const;
  readonly address: string;
  constructor(options: { address: string; message: string; kind?: ErrorKind; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.name = 'ClientConnectError';
    this.address = options.address;
    this.kind = options.kind ?? 'invalid-argument';
  }
}

/** Lines of a source file (a Dockerfile) an error points at, as the daemon attached them. */
export interface ErrorSource {
  readonly filename: string;
  readonly data: Uint8Array;
  /** 1-based line ranges. */
  readonly ranges: ReadonlyArray<{ readonly start: number; readonly end: number }>;
}

/**
 * A call to the daemon failed. `message` reads like buildctl's (`Unavailable: connection error…`;
 * the bare message for Unknown); `kind` is mapped back from the gRPC status; `sources` and `vertex`
 * come from BuildKit's typed error details when the daemon sent them.
 */
export class DaemonError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_DAEMON' as const;
  /** The RPC, e.g. `Control.Solve`. */
  readonly method: string;
  /** The gRPC status code. */
  readonly grpcCode: number;
  /** The daemon's message without the status prefix. */
  readonly details: string;
  readonly sources: readonly ErrorSource[];
  /** Digest of the failing vertex, when known. */
  readonly vertex: string | undefined;
  constructor(options: {
    method: string;
    grpcCode: number;
    kind: ErrorKind;
    message: string;
    details: string;
    sources?: readonly ErrorSource[];
    vertex?: string;
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause });
    this.name = 'DaemonError';
    this.method = options.method;
    this.grpcCode = options.grpcCode;
    this.kind = options.kind;
    this.details = options.details;
    this.sources = options.sources ?? [];
    this.vertex = options.vertex;
  }
}

/** A build failed (`failed to solve: …`); `cause` is the daemon's error when there was one. */
export class BuildFailedError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_BUILD_FAILED' as const;
  /** The build's ref (what `--ref-file` writes and `history` shows). */
  readonly ref: string;
  readonly sources: readonly ErrorSource[];
  constructor(options: {
    ref: string;
    message: string;
    kind: ErrorKind;
    sources?: readonly ErrorSource[];
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause });
    this.name = 'BuildFailedError';
    this.ref = options.ref;
    this.kind = options.kind;
    this.sources = options.sources ?? [];
  }
}

/** The daemon lacks a capability the request needs (a gateway API cap or an LLB cap). */
export class CapabilityError extends Error {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_CLIENT_CAPABILITY' as const;
  readonly capability: string;
  constructor(options: { capability: string; message: string }) {
    super(options.message);
    this.name = 'CapabilityError';
    this.capability = options.capability;
  }
}

/** Writing a client-side result failed: `--metadata-file`, `--ref-file`, an OCI or cache `index.json`. */
export class ClientOutputError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_OUTPUT' as const;
  readonly path: string;
  constructor(options: { path: string; message: string; kind?: ErrorKind; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.name = 'ClientOutputError';
    this.path = options.path;
    this.kind = options.kind ?? 'internal';
  }
}
