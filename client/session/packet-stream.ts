/** The part of a writable stream (grpc-js call, file stream) backpressure needs. */
export interface WritableLike<T> {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(message: T): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Writes to a grpc-js call, waiting for `drain` when its buffer is full. */
export function writeWithBackpressure<T>(call: WritableLike<T>, message: T): Promise<void> {
  if (call.destroyed || call.writableEnded) return Promise.reject(new Error('stream closed'));
  if (call.write(message)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      call.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      call.off('drain', onDrain);
      reject(new Error('stream closed'));
    };
    call.once('drain', onDrain);
    call.once('close', onClose);
  });
}

/** The values of one request metadata key; grpc-js folds repeated values into "a, b". */
export function metadataValues(values: readonly (string | Buffer)[]): string[] {
  return values
    .flatMap((v) => v.toString().split(', '))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/**
 * Reads the messages of a grpc-js call. Unlike `for await (… of call)`, leaving the loop early
 * does not destroy the call (which would cancel it before its status is sent); the rest is
 * drained. Rejects with the call's error.
 */
export async function* messages<T>(call: NodeJS.ReadableStream): AsyncGenerator<T> {
  const queue: T[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (message: T): void => {
    queue.push(message);
    if (queue.length >= 64) call.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure = err;
    ended = true;
    notify();
  };
  call.on('data', onData);
  call.on('end', onEnd);
  call.on('error', onError);
  try {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        if (queue.length < 32 && call.isPaused()) call.resume();
        yield next;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    call.off('data', onData);
    call.off('end', onEnd);
    call.off('error', onError);
    if (!ended) call.resume();
  }
}
