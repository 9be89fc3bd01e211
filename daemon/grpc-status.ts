import { toBinary } from '@bufbuild/protobuf';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { StatusSchema, type Status } from '../proto/gen/google/rpc/status_pb.js';
import type { ErrorKind } from '../oci/index.js';
import { detailsMetadata } from './error-details.js';

/** The one place that knows gRPC codes: each error kind's status. */
const statusByKind: Record<ErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  'permission-denied': status.PERMISSION_DENIED,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  canceled: status.CANCELLED,
  unimplemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
  unknown: status.UNKNOWN,
};

function kindOf(err: unknown): ErrorKind {
  if (typeof err === 'object' && err !== null && 'kind' in err) {
    const kind = (err as { kind: unknown }).kind;
    if (typeof kind === 'string' && kind in statusByKind) return kind as ErrorKind;
  }
  if (err instanceof Error && err.name === 'AbortError') return 'canceled';
  return 'unknown';
}

/** Extra trailers an error wants sent (e.g. grpc-status-details-bin with typed details). */
export interface WithTrailers {
  readonly trailers?: Metadata;
}

/** The gRPC code for an error kind name (unknown names count as Unknown). */
export function statusCodeOf(kind: string): number {
  return statusByKind[kind as ErrorKind] ?? status.UNKNOWN;
}

/** Turns any thrown value into the ServiceError grpc-js sends: status from `kind`, the message as is. */
export function toServiceError(err: unknown): ServiceError {
  const message = err instanceof Error ? err.message : String(err);
  const code = statusByKind[kindOf(err)];
  const metadata =
    (err as WithTrailers | undefined)?.trailers ?? detailsMetadata(err, code, message) ?? new Metadata();
  return Object.assign(new Error(message), { code, details: message, metadata });
}

/** A stand-in error for RPCs whose issue has not landed: says which method is missing. */
export function unimplemented(method: string): ServiceError {
  return toServiceError(
    Object.assign(new Error(`kiln does not implement ${method} yet`), { kind: 'unimplemented' }),
  );
}

const kindByStatus = new Map<number, ErrorKind>(
  Object.entries(statusByKind).map(([kind, code]) => [code, kind as ErrorKind]),
);

/** An error a client reported as a google.rpc.Status (LLBBridge.Return), with its kind restored. */
export class ClientReportedError extends Error {
  readonly code = 'KILN_DAEMON_CLIENT_ERROR' as const;
  readonly kind: ErrorKind;
  readonly trailers: Metadata | undefined;
  constructor(status: Status) {
    const message = withoutCodePrefix(status.code, status.message);
    super(message);
    this.name = 'ClientReportedError';
    this.kind = kindByStatus.get(status.code) ?? 'unknown';
    // The client's typed details (failing vertex, Dockerfile lines) go back to it unchanged.
    if (status.details.length > 0) {
      const metadata = new Metadata();
      // Clients take the message from these details when present: it must be the stripped one too.
      metadata.set('grpc-status-details-bin', Buffer.from(toBinary(StatusSchema, { ...status, message })));
      this.trailers = metadata;
    }
  }
}

/** Go clients prefix messages with the code name ("NotFound: …"); strip it so it is not doubled. */
function withoutCodePrefix(code: number, message: string): string {
  const name = status[code];
  if (typeof name !== 'string') return message;
  const goName = name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')
    .replace('Cancelled', 'Canceled');
  let text = message;
  while (text.startsWith(`${goName}: `)) text = text.slice(goName.length + 2);
  return text;
}

/**
 * Ends a streaming call with `err` as its status. Not `call.destroy(err)`: grpc-js then never
 * sends a status, and the client waits for one forever.
 */
export function failStream(
  call: { emit(event: 'error', err: ServiceError): boolean },
  error: ServiceError,
): void {
  call.emit('error', error);
}
