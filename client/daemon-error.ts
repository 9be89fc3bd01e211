import { fromBinary } from '@bufbuild/protobuf';
import type { ServiceError } from '@grpc/grpc-js';
import type { ErrorKind } from '../oci/index.js';
import { StatusSchema, type Status } from '../proto/gen/google/rpc/status_pb.js';
import { DaemonError, type ErrorSource } from './errors.js';

const codeNames = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** gRPC status code → kiln error kind (the inverse of daemon/grpc-status.ts). */
export function kindOfGrpcCode(code: number): ErrorKind {
  switch (code) {
    case 1:
      return 'canceled';
    case 3:
    case 11:
      return 'invalid-argument';
    case 5:
      return 'not-found';
    case 6:
      return 'already-exists';
    case 7:
    case 16:
      return 'permission-denied';
    case 8:
      return 'resource-exhausted';
    case 9:
    case 10:
      return 'failed-precondition';
    case 4:
    case 14:
      return 'unavailable';
    case 12:
      return 'unimplemented';
    case 2:
      return 'unknown';
    default:
      return 'internal';
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as ServiceError).code === 'number' &&
    'details' in err
  );
}

interface SourceJson {
  info?: { filename?: string; data?: string };
  ranges?: Array<{ start?: { line?: number }; end?: { line?: number } }>;
}

/** BuildKit's typed error details (`…errdefs.Source+json`, `…errdefs.Vertex+json`) from the trailers. */
function typedDetails(err: ServiceError): { sources: ErrorSource[]; vertex?: string } {
  const sources: ErrorSource[] = [];
  let vertex: string | undefined;
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return { sources };
  let details;
  try {
    details = fromBinary(StatusSchema, raw).details;
  } catch {
    return { sources }; // Details are a courtesy; undecodable ones leave the plain message.
  }
  // Each detail on its own: one of a type not read here (or not JSON) must not hide the others.
  for (const any of details) {
    const isSource = any.typeUrl.endsWith('errdefs.Source+json');
    if (!isSource && !any.typeUrl.endsWith('errdefs.Vertex+json')) continue;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(any.value).toString('utf8'));
    } catch {
      continue;
    }
    if (isSource) {
      const s = json as SourceJson;
      sources.push({
        filename: s.info?.filename ?? '',
        data: Buffer.from(s.info?.data ?? '', 'base64'),
        ranges: (s.ranges ?? []).map((r) => ({ start: r.start?.line ?? 0, end: r.end?.line ?? 0 })),
      });
    } else {
      vertex = (json as { digest?: string }).digest ?? vertex;
    }
  }
  return vertex === undefined ? { sources } : { sources, vertex };
}

/**
 * The typed details (`google.rpc.Status.details`) the daemon sent with a failed call, found on the
 * error or its causes; empty when there were none. Reporting a failure back through
 * LLBBridge.Return with them keeps the Dockerfile lines and failing step, as buildctl does.
 */
export function statusDetails(err: unknown): Status['details'] {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as Error).cause, depth++) {
    if (!isServiceError(e)) continue;
    const raw = e.metadata?.get('grpc-status-details-bin')[0];
    if (!(raw instanceof Buffer)) continue;
    try {
      return fromBinary(StatusSchema, raw).details;
    } catch {
      return [];
    }
  }
  return [];
}

/**
 * Wraps a failed grpc-js call as a DaemonError whose message reads like buildctl's:
 * `<prefix>: <Code>: <details>` (`<prefix>: <details>` for Unknown). Anything that is not a gRPC
 * error is returned unchanged.
 */
export function daemonError(err: unknown, method: string, prefix?: string): unknown {
  if (!isServiceError(err)) return err;
  const name = codeNames[err.code] ?? `Code(${err.code})`;
  const core = err.code === 2 ? err.details : `${name}: ${err.details}`;
  return new DaemonError({
    method,
    grpcCode: err.code,
    kind: kindOfGrpcCode(err.code),
    message: prefix ? `${prefix}: ${core}` : core,
    details: err.details,
    ...typedDetails(err),
    cause: err,
  });
}

/** The source lines an error points at, framed as buildctl prints them before `error: …`. */
export function formatErrorSource(source: ErrorSource): string {
  const lines = Buffer.from(source.data).toString('utf8').split('\n');
  if (source.ranges.length === 0) return '';
  let start = Infinity;
  let end = 0;
  for (const r of source.ranges) {
    start = Math.min(start, r.start);
    end = Math.max(end, Math.max(r.end, r.start));
  }
  if (start > lines.length || start < 1) return '';
  if (end > lines.length) end = lines.length;
  const pad = end === start ? 4 : 2;
  const firstLine = start;
  for (let p = 0; p < pad;) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
    p++;
  }
  const inRange = (l: number): boolean =>
    source.ranges.some((r) => r.start <= l && Math.max(r.end, r.start) >= l);
  let out = `${source.filename}:${firstLine}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    out += ` ${String(i).padStart(3)} | ${inRange(i) ? '>>>' : '   '} ${lines[i - 1]}\n`;
  }
  return out + '--------------------\n';
}
