import { channel } from 'node:diagnostics_channel';

/**
 * What the solver reports for observability, on named diagnostics channels (no logger or
 * metrics singleton): the daemon subscribes and turns these into metrics.
 */
export const jobChannel = channel('kiln:solver:job');
export const vertexChannel = channel('kiln:solver:vertex');
export const bytesChannel = channel('kiln:solver:bytes');

export interface JobEvent {
  readonly ref: string;
  readonly phase: 'start' | 'end';
  readonly durationMs?: number;
  readonly failed?: boolean;
}

export interface VertexEvent {
  readonly state: 'cached' | 'done' | 'failed';
  readonly durationMs?: number;
}

export interface BytesEvent {
  readonly kind: 'pulled' | 'transferred' | 'pushed';
  readonly bytes: number;
}

export function publishBytes(kind: BytesEvent['kind'], bytes: number): void {
  if (bytes > 0 && bytesChannel.hasSubscribers) bytesChannel.publish({ kind, bytes } satisfies BytesEvent);
}
