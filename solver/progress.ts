/**
 * Build progress as plain values. A vertex's events go to every job that includes the vertex
 * (two builds sharing a step both see it run); the daemon turns them into StatusResponse
 * messages for buildctl.
 */

export interface ProgressGroup {
  readonly id: string;
  readonly name: string;
  readonly weak: boolean;
}

/** The whole state of one vertex as clients display it; every update resends all of it. */
export interface VertexRecord {
  readonly digest: string;
  readonly inputs: readonly string[];
  readonly name: string;
  readonly cached: boolean;
  readonly started?: Date;
  readonly completed?: Date;
  readonly error?: string;
  readonly progressGroup?: ProgressGroup;
}

/** A counter line under a vertex (`transferring context: 12.3MB`), updated in place by id. */
export interface StatusRecord {
  readonly id: string;
  readonly vertex: string;
  readonly name: string;
  readonly current: number;
  readonly total: number;
  readonly timestamp: Date;
  readonly started?: Date;
  readonly completed?: Date;
}

/** A status as an op reports it; the vertex and the time are added when it is sent. */
export type StatusUpdate = Omit<StatusRecord, 'vertex' | 'timestamp'>;

export interface LogRecord {
  readonly vertex: string;
  readonly stream: 1 | 2;
  readonly data: Uint8Array;
  readonly timestamp: Date;
}

export interface WarningRecord {
  readonly vertex: string;
  readonly level: number;
  readonly short: string;
  readonly detail: readonly string[];
  readonly url?: string;
}

export type ProgressEvent =
  | { readonly type: 'vertex'; readonly vertex: VertexRecord }
  | { readonly type: 'status'; readonly status: StatusRecord }
  | { readonly type: 'log'; readonly log: LogRecord }
  | { readonly type: 'warning'; readonly warning: WarningRecord };

/** Where progress goes. */
export interface ProgressSink {
  write(event: ProgressEvent): void;
}

/** A sink that discards everything. */
export const discardProgress: ProgressSink = { write() {} };
