import { randomBytes } from 'node:crypto';
import type PQueue from 'p-queue';
import { JobCanceledError } from './errors.js';
import type { GatewayResult } from './gateway-client.js';
import type { RemoteCache } from './op.js';
import { JobProgress } from './job-progress.js';
import type { SchedulerJob } from './scheduler.js';
import type { VertexOutcome } from './vertex.js';

/** A cache import or export as the client asked for it (`--export-cache type=…,k=v`). */
export interface CacheOptionEntry {
  readonly type: string;
  readonly attrs: Readonly<Record<string, string>>;
}

/** An output the client asked for (`--output type=…,k=v`). */
export interface ExporterRequest {
  readonly type: string;
  readonly attrs: Readonly<Record<string, string>>;
}

export interface JobOptions {
  readonly ref: string;
  readonly sessionId: string;
  readonly frontend: string;
  readonly frontendAttrs: Readonly<Record<string, string>>;
  readonly exporters: readonly ExporterRequest[];
  readonly cacheExports: readonly CacheOptionEntry[];
  readonly cacheImports: readonly CacheOptionEntry[];
  readonly entitlements: ReadonlySet<string>;
  readonly queue?: PQueue;
}

/**
 * One `Control.Solve`: what the client asked for, its progress, and the cancellation of
 * everything done on its behalf. Lives from registration until the exporters finish.
 */
export class Job implements SchedulerJob {
  readonly progress = new JobProgress();
  /** Imported caches; set once at registration. */
  remoteCaches: readonly RemoteCache[] = [];
  readonly createdAt = new Date();
  readonly #abort = new AbortController();
  readonly #returned: Promise<GatewayResult>;
  readonly #settledListeners: Array<(digest: string, outcome: VertexOutcome) => void> = [];
  #settleReturn!: { resolve: (r: GatewayResult) => void; reject: (e: unknown) => void };

  constructor(readonly options: JobOptions) {
    this.#returned = new Promise<GatewayResult>((resolve, reject) => {
      this.#settleReturn = { resolve, reject };
    });
    // Nobody may be waiting yet; the rejection is observed by waitForReturn.
    this.#returned.catch(() => {});
  }

  /** The result a client-side build function returned (LLBBridge.Return), or its error. */
  waitForReturn(): Promise<GatewayResult> {
    return this.#returned;
  }

  setReturn(result: GatewayResult): void {
    this.#settleReturn.resolve(result);
  }

  setReturnError(error: unknown): void {
    this.#settleReturn.reject(error);
  }

  get ref(): string {
    return this.options.ref;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get sessionIds(): readonly string[] {
    return this.options.sessionId ? [this.options.sessionId] : [];
  }

  get entitlements(): ReadonlySet<string> {
    return this.options.entitlements;
  }

  get queue(): PQueue | undefined {
    return this.options.queue;
  }

  /** Calls `listener` with each vertex of the job that is done or cached, as it gets there. */
  onSettled(listener: (digest: string, outcome: VertexOutcome) => void): void {
    this.#settledListeners.push(listener);
  }

  settled(digest: string, outcome: VertexOutcome): void {
    for (const listener of this.#settledListeners) listener(digest, outcome);
  }

  cancel(): void {
    if (this.#abort.signal.aborted) return;
    const error = new JobCanceledError(this.ref);
    this.#abort.abort(error);
    this.#settleReturn.reject(error);
  }
}

/** 25 lowercase base-36 characters, the shape BuildKit uses for build and ref ids. */
export function newId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(25)].map((b) => alphabet[b % 36]).join('');
}
