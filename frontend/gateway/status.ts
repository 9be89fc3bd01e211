import { create } from '@bufbuild/protobuf';
import type { ErrorKind } from '../../oci/index.js';
import { StatusSchema, type Status } from '../../proto/gen/google/rpc/status_pb.js';

/*
 * A frontend talks gRPC to the daemon itself, so this is its edge: the one table between kiln's
 * error kinds and gRPC codes on the frontend side (daemon/grpc-status.ts is the daemon's).
 */

const codeByKind: Record<ErrorKind, number> = {
  canceled: 1,
  unknown: 2,
  'invalid-argument': 3,
  'not-found': 5,
  'already-exists': 6,
  'permission-denied': 7,
  'resource-exhausted': 8,
  'failed-precondition': 9,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
};

const kindByCode = new Map<number, ErrorKind>(
  Object.entries(codeByKind).map(([kind, code]) => [code, kind as ErrorKind]),
);

/** The kind of a gRPC status code (codes without one, such as DeadlineExceeded, are `unknown`). */
export function kindOfCode(code: number): ErrorKind {
  return kindByCode.get(code) ?? 'unknown';
}

function kindOf(err: unknown): ErrorKind {
  const kind = (err as { kind?: unknown } | undefined)?.kind;
  if (typeof kind === 'string' && kind in codeByKind) return kind as ErrorKind;
  if (err instanceof Error && err.name === 'AbortError') return 'canceled';
  return 'unknown';
}

interface SourceDetail {
  readonly filename: string;
  readonly data: Uint8Array;
  readonly ranges: ReadonlyArray<{
    readonly start: { readonly line: number; readonly character?: number };
    readonly end: { readonly line: number; readonly character?: number };
  }>;
}

function isSource(value: unknown): value is SourceDetail {
  const s = value as SourceDetail | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.filename === 'string' &&
    s.data instanceof Uint8Array &&
    Array.isArray(s.ranges)
  );
}

function position(p: { line: number; character?: number }): Record<string, number> {
  return { ...(p.line ? { line: p.line } : {}), ...(p.character ? { character: p.character } : {}) };
}

/** An error's own typed details, JSON in `Any` as BuildKit's grpcerrors writes them. */
function ownDetails(err: unknown): Array<{ typeUrl: string; value: Uint8Array }> {
  const out: Array<{ typeUrl: string; value: Uint8Array }> = [];
  let source = false;
  let vertex = false;
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 10; e = (e as Error).cause, depth++) {
    const s = (e as { source?: unknown }).source;
    if (!source && isSource(s)) {
      source = true;
      const json = {
        info: {
          ...(s.filename ? { filename: s.filename } : {}),
          ...(s.data.length ? { data: Buffer.from(s.data).toString('base64') } : {}),
        },
        ranges: s.ranges.map((r) => ({ start: position(r.start), end: position(r.end) })),
      };
      out.push({
        typeUrl: 'github.com/moby/buildkit/errdefs.Source+json',
        value: Buffer.from(JSON.stringify(json)),
      });
    }
    const v = (e as { vertex?: { digest?: unknown } }).vertex;
    if (!vertex && v && typeof v.digest === 'string') {
      vertex = true;
      out.push({
        typeUrl: 'github.com/moby/buildkit/errdefs.Vertex+json',
        value: Buffer.from(JSON.stringify({ digest: v.digest })),
      });
    }
  }
  return out;
}

/** The status a daemon error arrived with, when `err` is (or wraps) one. */
function receivedStatus(err: unknown): Status | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 10; e = (e as Error).cause, depth++) {
    const status = (e as { code?: unknown; status?: unknown }).status;
    if ((e as { code?: unknown }).code === 'KILN_GATEWAY_CALL' && status) return status as Status;
  }
  return undefined;
}

/**
 * The google.rpc.Status a frontend returns for a failed build: the error's kind as the code, its
 * message, and its typed details. An error that came from the daemon (a failed Solve) keeps the
 * details the daemon sent (those the error does not override), so the failing step and Dockerfile
 * lines reach the user unchanged.
 */
export function errorStatus(err: unknown): Status {
  const message = err instanceof Error ? err.message : String(err);
  const code = codeByKind[kindOf(err)];
  const own = ownDetails(err);
  const received = receivedStatus(err);
  const types = new Set(own.map((d) => d.typeUrl));
  const details = [...own, ...(received?.details ?? []).filter((d) => !types.has(d.typeUrl))];
  return create(StatusSchema, { code, message, details });
}
