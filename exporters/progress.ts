import type { ProgressSink, SyntheticVertex } from '../solver/index.js';

/** Where an exporter reports: the job's sink and the exporter's progress line. */
export interface ExportProgress {
  readonly sink: ProgressSink;
  readonly vertex: SyntheticVertex;
}

/**
 * A status line under the exporter's vertex that starts now and completes when `fn` settles
 * (BuildKit's `progress.OneOff`: `exporting layers`, `naming to …`, `pushing manifest for …`).
 */
export async function step<T>(progress: ExportProgress, id: string, fn: () => Promise<T>): Promise<T> {
  const started = new Date();
  const write = (completed?: Date): void =>
    progress.sink.write({
      type: 'status',
      status: {
        id,
        vertex: progress.vertex.digest,
        name: id,
        current: 0,
        total: 0,
        timestamp: completed ?? started,
        started,
        ...(completed ? { completed } : {}),
      },
    });
  write();
  try {
    return await fn();
  } finally {
    write(new Date());
  }
}

/** A byte counter under the exporter's vertex (one blob being pushed or sent). */
export function counter(
  progress: ExportProgress,
  id: string,
  total: number,
  started = new Date(),
): (current: number, done?: boolean) => void {
  return (current, done = false) => {
    const now = new Date();
    progress.sink.write({
      type: 'status',
      status: {
        id,
        vertex: progress.vertex.digest,
        name: id,
        current,
        total,
        timestamp: now,
        started,
        ...(done ? { completed: now } : {}),
      },
    });
  };
}
