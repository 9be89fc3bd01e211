import type { StatusResponse } from '../../proto/gen/moby/buildkit/v1/control_pb.js';

/**
 * One progress update of a build, decoded from `Control.Status` (BuildKit's client.SolveStatus).
 * Times are Dates; byte counters are numbers.
 */
export interface SolveStatus {
  readonly vertexes: readonly ProgressVertex[];
  readonly statuses: readonly ProgressStatus[];
  readonly logs: readonly ProgressLog[];
  readonly warnings: readonly ProgressWarning[];
}

/** A build step. It is shown once `started` is set; `completed` with `cached`/`error` ends it. */
export interface ProgressVertex {
  readonly digest: string;
  readonly inputs: readonly string[];
  readonly name: string;
  readonly started?: Date;
  readonly completed?: Date;
  readonly cached: boolean;
  readonly error: string;
  readonly progressGroup?: { readonly id: string; readonly name: string; readonly weak: boolean };
}

/** A sub-task of a step (`transferring context: 1.2MB`), updated in place by `id`. */
export interface ProgressStatus {
  readonly id: string;
  readonly vertex: string;
  readonly name: string;
  readonly current: number;
  readonly total: number;
  readonly timestamp: Date;
  readonly started?: Date;
  readonly completed?: Date;
}

/** A chunk of a step's output (stream 1 stdout, 2 stderr); lines may span chunks. */
export interface ProgressLog {
  readonly vertex: string;
  readonly stream: number;
  readonly data: Uint8Array;
  readonly timestamp: Date;
}

export interface ProgressWarning {
  readonly vertex: string;
  readonly level: number;
  readonly short: Uint8Array;
  readonly detail: readonly Uint8Array[];
  readonly url: string;
  readonly sourceInfo?: { readonly filename: string; readonly data: Uint8Array; readonly language: string };
  readonly ranges: ReadonlyArray<{
    readonly start: { readonly line: number; readonly character: number };
    readonly end: { readonly line: number; readonly character: number };
  }>;
}

type Timestamp = { seconds: bigint; nanos: number };

function date(ts: Timestamp | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

/** Decodes one `StatusResponse` into a SolveStatus. */
export function solveStatusFromResponse(resp: StatusResponse): SolveStatus {
  return {
    vertexes: resp.vertexes.map((v) => ({
      digest: v.digest,
      inputs: [...v.inputs],
      name: v.name,
      ...(v.started ? { started: date(v.started)! } : {}),
      ...(v.completed ? { completed: date(v.completed)! } : {}),
      cached: v.cached,
      error: v.error,
      ...(v.progressGroup
        ? {
            progressGroup: { id: v.progressGroup.id, name: v.progressGroup.name, weak: v.progressGroup.weak },
          }
        : {}),
    })),
    statuses: resp.statuses.map((s) => ({
      id: s.ID,
      vertex: s.vertex,
      name: s.name,
      current: Number(s.current),
      total: Number(s.total),
      timestamp: date(s.timestamp) ?? new Date(0),
      ...(s.started ? { started: date(s.started)! } : {}),
      ...(s.completed ? { completed: date(s.completed)! } : {}),
    })),
    logs: resp.logs.map((l) => ({
      vertex: l.vertex,
      stream: Number(l.stream),
      data: l.msg,
      timestamp: date(l.timestamp) ?? new Date(0),
    })),
    warnings: resp.warnings.map((w) => ({
      vertex: w.vertex,
      level: Number(w.level),
      short: w.short,
      detail: [...w.detail],
      url: w.url,
      ...(w.info
        ? { sourceInfo: { filename: w.info.filename, data: w.info.data, language: w.info.language } }
        : {}),
      ranges: w.ranges.map((r) => ({
        start: { line: r.start?.line ?? 0, character: r.start?.character ?? 0 },
        end: { line: r.end?.line ?? 0, character: r.end?.character ?? 0 },
      })),
    })),
  };
}
