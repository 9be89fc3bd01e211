import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { StorageManager } from '../solver/index.js';
import type { GcPolicy } from './config.js';
import { resolveDiskSize, type DiskSize } from './units.js';

const gigabyte = 1e9;
/**
 * How long after a build the collection waits. BuildKit throttles its post-solve GC to once a
 * minute; running it a second after every build made the next build share the machine with a
 * walk of every new snapshot (measured by bench/: a 5,000-file context rebuild slowed by it).
 */
const afterBuildDelayMs = 60_000;

/** BuildKit's default rules, with `budget` (gckeepstorage, or a tenth of the disk up to 10 GB). */
export function defaultGcPolicies(budget: DiskSize): GcPolicy[] {
  return [
    {
      all: false,
      filters: ['type==source.local', 'type==exec.cachemount', 'type==source.git.checkout'],
      keepDurationMs: 48 * 3600 * 1000,
      maxUsedSpace: { bytes: 512e6 },
    },
    { all: false, filters: [], keepDurationMs: 60 * 24 * 3600 * 1000, maxUsedSpace: budget },
    { all: false, filters: [], keepDurationMs: 0, maxUsedSpace: budget },
    { all: true, filters: [], keepDurationMs: 0, maxUsedSpace: budget },
  ];
}

export async function defaultBudget(root: string): Promise<DiskSize> {
  const fs = await statfs(root);
  return { bytes: Math.min(Math.floor((fs.blocks * fs.bsize) / 10), 10 * gigabyte) };
}

/**
 * Background garbage collection: after builds (debounced) and periodically, each rule prunes
 * least-recently-used records until kiln's disk use is under the rule's cap and the disk has the
 * free space the rule asks for, never below its reserved floor.
 */
export class GarbageCollector {
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly options: {
      storage: StorageManager;
      policies: readonly GcPolicy[];
      root: string;
      logger?: Logger;
      intervalMs?: number;
      /** Delay of `schedule()` without an argument (after a build); default one minute. */
      afterBuildDelayMs?: number;
    },
  ) {}

  start(): void {
    this.#interval = setInterval(() => this.schedule(0), this.options.intervalMs ?? 10 * 60 * 1000);
    this.#interval.unref();
    this.schedule(0);
  }

  /**
   * Runs a collection after `delayMs` (default: the after-build delay); calls while one is pending
   * join it, and calls while one runs coalesce into one more run.
   */
  schedule(delayMs = this.options.afterBuildDelayMs ?? afterBuildDelayMs): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running) {
        this.#again = true;
        return;
      }
      this.#running = this.run()
        .catch((err: unknown) => this.options.logger?.warn({ err }, 'garbage collection failed'))
        .finally(() => {
          this.#running = undefined;
          if (this.#again) {
            this.#again = false;
            this.schedule(0);
          }
        });
    }, delayMs);
    this.#timer.unref();
  }

  async run(): Promise<void> {
    const { storage, policies, root } = this.options;
    let removed = 0;
    for (const policy of policies) {
      const used = (await storage.usage()).reduce((sum, r) => sum + r.size, 0);
      const fs = await statfs(root);
      const free = fs.bavail * fs.bsize;
      const cap = policy.maxUsedSpace
        ? await resolveDiskSize(policy.maxUsedSpace, root)
        : Number.POSITIVE_INFINITY;
      const wantFree = policy.minFreeSpace ? await resolveDiskSize(policy.minFreeSpace, root) : 0;
      const floor = policy.reservedSpace ? await resolveDiskSize(policy.reservedSpace, root) : 0;
      const target = Math.max(floor, Math.min(cap, used - Math.max(0, wantFree - free)));
      if (used <= target && policy.keepDurationMs === 0) continue;
      for await (const _ of storage.prune({
        filters: policy.filters,
        all: policy.all,
        keepDurationMs: policy.keepDurationMs,
        // 0 means no cap; a target of 0 must still prune everything the rule allows.
        keepBytes: Number.isFinite(target) ? Math.max(target, 1) : 0,
      })) {
        removed++;
      }
    }
    if (removed > 0) this.options.logger?.info({ removed }, 'garbage collected');
  }

  stop(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
  }
}
