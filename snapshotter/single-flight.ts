interface Call<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

/**
 * One task per key at a time: callers asking for a key already in flight wait for the same task.
 * The task gets its own signal, aborted only once every caller waiting for it has aborted, so one
 * cancelled build never cancels work another build still needs. Each caller's promise rejects with
 * its own signal's reason as soon as that signal aborts.
 */
export class SingleFlight<T> {
  readonly #calls = new Map<string, Call<T>>();

  /** Whether a task for `key` is running (a `run` now would join it). */
  has(key: string): boolean {
    return this.#calls.has(key);
  }

  run(key: string, task: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let call = this.#calls.get(key);
    if (!call) {
      const controller = new AbortController();
      const promise = task(controller.signal).finally(() => {
        if (this.#calls.get(key) === call) this.#calls.delete(key);
      });
      call = { promise, controller, waiters: 0 };
      this.#calls.set(key, call);
    }
    const current = call;
    current.waiters++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        if (--current.waiters === 0) {
          // Nobody waits any more: stop the work, and let the next caller start afresh.
          if (this.#calls.get(key) === current) this.#calls.delete(key);
          current.controller.abort(signal?.reason);
        }
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      current.promise.then(
        (value) => {
          if (settled) return;
          settled = true;
          current.waiters--;
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          current.waiters--;
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }
}
