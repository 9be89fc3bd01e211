/**
 * Failure classes of the session tunnel and its services. `kind` is the project-wide failure
 * class (the same strings as oci's ErrorKind; declared here because session/ imports proto only).
 */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'unavailable'
  | 'canceled'
  | 'unimplemented'
  | 'internal';

interface ErrorOptions {
  cause?: unknown;
}

/** `Control.Session` was opened without the metadata a session needs (its uuid). */
export class SessionMetadataError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SESSION_METADATA' as const;
  readonly header: string;
  constructor(options: { header: string }) {
    super(`Control.Session call has no ${options.header} metadata; a session needs a non-empty id`);
    this.name = 'SessionMetadataError';
    this.header = options.header;
  }
}

/** A second session arrived with the id of one that is still open. */
export class SessionExistsError extends Error {
  readonly kind = 'already-exists' as const;
  readonly code = 'KILN_SESSION_EXISTS' as const;
  readonly sessionId: string;
  constructor(options: { sessionId: string }) {
    super(`session ${options.sessionId} is already open; session ids must be unique`);
    this.name = 'SessionExistsError';
    this.sessionId = options.sessionId;
  }
}

/** No session with that id arrived in time. */
export class SessionNotFoundError extends Error {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_SESSION_NOT_FOUND' as const;
  readonly sessionId: string;
  readonly timeoutMs: number;
  constructor(options: { sessionId: string; timeoutMs: number }) {
    super(`session ${options.sessionId} not found: no client opened it within ${options.timeoutMs} ms`);
    this.name = 'SessionNotFoundError';
    this.sessionId = options.sessionId;
    this.timeoutMs = options.timeoutMs;
  }
}

/** The tunnel ended (client went away, manager closed) while a call needed it. */
export class SessionEndedError extends Error {
  readonly kind = 'unavailable' as const;
  readonly code = 'KILN_SESSION_ENDED' as const;
  readonly sessionId: string;
  constructor(options: { sessionId: string } & ErrorOptions) {
    super(`session ${options.sessionId} ended`, { cause: options.cause });
    this.name = 'SessionEndedError';
    this.sessionId = options.sessionId;
  }
}

/** The client did not list the method among the ones it serves. */
export class MethodNotSupportedError extends Error {
  readonly kind = 'unimplemented' as const;
  readonly code = 'KILN_SESSION_METHOD_UNSUPPORTED' as const;
  readonly sessionId: string;
  readonly method: string;
  constructor(options: { sessionId: string; method: string }) {
    super(`method ${options.method} not supported by the client of session ${options.sessionId}`);
    this.name = 'MethodNotSupportedError';
    this.sessionId = options.sessionId;
    this.method = options.method;
  }
}

/** A call into the client failed with a gRPC status (or its stream broke). */
export class SessionCallError extends Error {
  readonly code = 'KILN_SESSION_CALL' as const;
  readonly kind: ErrorKind;
  readonly sessionId: string;
  readonly method: string;
  /** The numeric gRPC status the client answered with (2 = Unknown when the stream broke). */
  readonly grpcCode: number;
  readonly grpcMessage: string;
  constructor(
    options: { sessionId: string; method: string; grpcCode: number; grpcMessage: string } & ErrorOptions,
  ) {
    super(
      `${options.method} on the client of session ${options.sessionId} failed: ${options.grpcMessage || `gRPC status ${options.grpcCode}`}`,
      { cause: options.cause },
    );
    this.name = 'SessionCallError';
    this.sessionId = options.sessionId;
    this.method = options.method;
    this.grpcCode = options.grpcCode;
    this.grpcMessage = options.grpcMessage;
    this.kind = kindOfGrpcCode(options.grpcCode);
  }
}

/** The caller's signal aborted an operation on the session. */
export class SessionCanceledError extends Error {
  readonly kind = 'canceled' as const;
  readonly code = 'KILN_SESSION_CANCELED' as const;
  readonly operation: string;
  constructor(options: { operation: string } & ErrorOptions) {
    super(`${options.operation} canceled`, { cause: options.cause });
    this.name = 'SessionCanceledError';
    this.operation = options.operation;
  }
}

/** The other side of a DiffCopy broke the fsutil protocol: bad path, order, id or packet. */
export class FileSyncProtocolError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SESSION_FILESYNC_PROTOCOL' as const;
  readonly path: string | undefined;
  constructor(options: { message: string; path?: string } & ErrorOptions) {
    super(options.message, { cause: options.cause });
    this.name = 'FileSyncProtocolError';
    this.path = options.path;
  }
}

/** The other side of a DiffCopy reported a failure of its own (PACKET_ERR). */
export class FileSyncRemoteError extends Error {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SESSION_FILESYNC_REMOTE' as const;
  readonly remoteMessage: string;
  constructor(options: { side: 'sender' | 'receiver'; remoteMessage: string }) {
    super(`error from ${options.side}: ${options.remoteMessage}`);
    this.name = 'FileSyncRemoteError';
    this.remoteMessage = options.remoteMessage;
  }
}

/** A local filesystem step of a transfer failed (mkdir, open, link, write into dest). */
export class FileSyncWriteError extends Error {
  readonly kind = 'internal' as const;
  readonly code = 'KILN_SESSION_FILESYNC_WRITE' as const;
  readonly path: string;
  constructor(options: { path: string; operation: string } & ErrorOptions) {
    super(`${options.operation} ${options.path} failed: ${describe(options.cause)}`, {
      cause: options.cause,
    });
    this.name = 'FileSyncWriteError';
    this.path = options.path;
  }
}

/** The SSH agent forwarder could not listen or relay. */
export class SshForwardError extends Error {
  readonly kind = 'internal' as const;
  readonly code = 'KILN_SESSION_SSH_FORWARD' as const;
  readonly sshId: string;
  constructor(options: { sshId: string; message: string } & ErrorOptions) {
    super(`ssh forwarding for id ${JSON.stringify(options.sshId)}: ${options.message}`, {
      cause: options.cause,
    });
    this.name = 'SshForwardError';
    this.sshId = options.sshId;
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

const GRPC_KINDS: readonly ErrorKind[] = [
  'internal', // 0 OK never becomes an error
  'canceled', // 1 CANCELLED
  'internal', // 2 UNKNOWN
  'invalid-argument', // 3 INVALID_ARGUMENT
  'unavailable', // 4 DEADLINE_EXCEEDED
  'not-found', // 5 NOT_FOUND
  'already-exists', // 6 ALREADY_EXISTS
  'permission-denied', // 7 PERMISSION_DENIED
  'resource-exhausted', // 8 RESOURCE_EXHAUSTED
  'failed-precondition', // 9 FAILED_PRECONDITION
  'failed-precondition', // 10 ABORTED
  'invalid-argument', // 11 OUT_OF_RANGE
  'unimplemented', // 12 UNIMPLEMENTED
  'internal', // 13 INTERNAL
  'unavailable', // 14 UNAVAILABLE
  'internal', // 15 DATA_LOSS
  'permission-denied', // 16 UNAUTHENTICATED
];

/** The failure class of a gRPC status code received from the client. */
export function kindOfGrpcCode(code: number): ErrorKind {
  return GRPC_KINDS[code] ?? 'internal';
}
