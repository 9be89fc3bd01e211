/**
 * Mutual exclusion per key, in arrival order. Used for writer refs (two writers with one ref never
 * run together) and for digests (publishing a blob never races with deleting it).
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Resolves with a release function once every earlier holder of `key` has released. Aborting
   * `signal` while waiting rejects with its reason and gives the turn up without blocking later
   * waiters. Calling release more than once is harmless.
   */
  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let open!: () => void;
    const mine = new Promise<void>((resolve) => (open = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    const release = (): void => {
      open();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    try {
      await waitOrAbort(previous, signal);
    } catch (error) {
      void previous.then(release);
      throw error;
    }
    return release;
  }

  /** Whether anyone holds or waits for `key`. */
  busy(key: string): boolean {
    return this.#tails.has(key);
  }
}

function waitOrAbort(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
