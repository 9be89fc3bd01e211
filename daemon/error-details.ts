import { create, toBinary } from '@bufbuild/protobuf';
import { Metadata } from '@grpc/grpc-js';
import { StatusSchema } from '../proto/gen/google/rpc/status_pb.js';

/** Source lines an error points at (frontends and failing ops attach these). */
interface SourceDetail {
  readonly filename: string;
  readonly data: Uint8Array;
  readonly ranges: ReadonlyArray<{
    readonly start: { readonly line: number; readonly character?: number };
    readonly end: { readonly line: number; readonly character?: number };
  }>;
}

function isSource(value: unknown): value is SourceDetail {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SourceDetail).filename === 'string' &&
    (value as SourceDetail).data instanceof Uint8Array &&
    Array.isArray((value as SourceDetail).ranges)
  );
}

/**
 * Most source bytes a detail carries. Details travel in a trailer, base64-encoded twice, and
 * trailers past HTTP/2's 64 KiB header block are never delivered: the call then hangs.
 */
export const maxSourceDetailBytes = 16 * 1024;

/**
 * The source's data cut after the last line the error points at, so line numbers still match;
 * nothing when even that is too large (the client then shows the message without lines).
 */
function clippedData(source: SourceDetail): Uint8Array {
  if (source.data.length <= maxSourceDetailBytes) return source.data;
  const last = Math.max(0, ...source.ranges.map((r) => r.end.line));
  let end = 0;
  for (let line = 0; line < last && end < source.data.length; line++) {
    const newline = source.data.indexOf(0x0a, end);
    end = newline < 0 ? source.data.length : newline + 1;
  }
  return end <= maxSourceDetailBytes ? source.data.subarray(0, end) : new Uint8Array(0);
}

/** Go's encoding/json of a position, with its omitempty fields. */
function position(p: { line: number; character?: number }): Record<string, number> {
  return { ...(p.line ? { line: p.line } : {}), ...(p.character ? { character: p.character } : {}) };
}

/**
 * BuildKit's typed error details, JSON-encoded in `google.protobuf.Any` the way BuildKit's
 * grpcerrors package writes them, so buildctl prints the failing step and the Dockerfile lines.
 * Walks the error and its causes for `source` and `vertex` fields.
 */
function details(err: unknown): Array<{ typeUrl: string; value: Uint8Array }> {
  const out: Array<{ typeUrl: string; value: Uint8Array }> = [];
  const seen = new Set<string>();
  for (
    let e: unknown = err, depth = 0;
    e && typeof e === 'object' && depth < 10;
    e = (e as Error).cause, depth++
  ) {
    const source = (e as { source?: unknown }).source;
    if (isSource(source) && !seen.has('source')) {
      seen.add('source');
      const data = clippedData(source);
      const json = {
        info: {
          ...(source.filename ? { filename: source.filename } : {}),
          ...(data.length ? { data: Buffer.from(data).toString('base64') } : {}),
        },
        ranges: source.ranges.map((r) => ({ start: position(r.start), end: position(r.end) })),
      };
      out.push({
        typeUrl: 'github.com/moby/buildkit/errdefs.Source+json',
        value: Buffer.from(JSON.stringify(json)),
      });
    }
    const vertex = (e as { vertex?: { digest?: unknown } }).vertex;
    if (vertex && typeof vertex.digest === 'string' && !seen.has('vertex')) {
      seen.add('vertex');
      out.push({
        typeUrl: 'github.com/moby/buildkit/errdefs.Vertex+json',
        value: Buffer.from(JSON.stringify({ digest: vertex.digest })),
      });
    }
  }
  return out;
}

/** Trailers carrying `grpc-status-details-bin` for an error, when it has typed details. */
export function detailsMetadata(err: unknown, code: number, message: string): Metadata | undefined {
  const found = details(err);
  if (found.length === 0) return undefined;
  const status = create(StatusSchema, { code, message, details: found });
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(toBinary(StatusSchema, status)));
  return metadata;
}
