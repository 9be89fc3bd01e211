import { JobExistsError, JobNotFoundError } from './errors.js';
import type { Job } from './job.js';

/**
 * Jobs by build ref. `Control.Status` and gateway calls may arrive before `Control.Solve`
 * registers the job (buildctl issues them concurrently), so lookups wait a bounded time, as the
 * reference daemon does (3 s for gateway calls, 6 s for Status).
 */
export class JobRegistry {
  readonly #jobs = new Map<string, Job>();
  readonly #waiters = new Map<string, Set<(job: Job) => void>>();

  register(job: Job): void {
    if (this.#jobs.has(job.ref)) throw new JobExistsError(job.ref);
    this.#jobs.set(job.ref, job);
    for (const wake of this.#waiters.get(job.ref) ?? []) wake(job);
    this.#waiters.delete(job.ref);
  }

  remove(job: Job): void {
    if (this.#jobs.get(job.ref) === job) this.#jobs.delete(job.ref);
  }

  find(ref: string): Job | undefined {
    return this.#jobs.get(ref);
  }

  get size(): number {
    return this.#jobs.size;
  }

  all(): Job[] {
    return [...this.#jobs.values()];
  }

  /** The job with this ref, waiting up to `timeoutMs` for it to be registered. */
  async get(ref: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<Job> {
    const existing = this.#jobs.get(ref);
    if (existing) return existing;
    return new Promise<Job>((resolve, reject) => {
      let waiters = this.#waiters.get(ref);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(ref, waiters);
      }
      const cleanup = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(ref) === waiters) this.#waiters.delete(ref);
      };
      const wake = (job: Job): void => {
        cleanup();
        resolve(job);
      };
      const onAbort = (): void => {
        cleanup();
        reject(options.signal?.reason ?? new JobNotFoundError(ref));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new JobNotFoundError(ref));
      }, options.timeoutMs);
      waiters.add(wake);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
