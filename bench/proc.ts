import { readFileSync, writeFileSync } from 'node:fs';

/** Resident memory of one process, in bytes, from /proc/<pid>/status. */
export interface MemoryReading {
  /** VmRSS: resident now. */
  readonly rss: number;
  /** VmHWM: the peak resident size since start or the last `resetPeak`. */
  readonly hwm: number;
}

function kib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Reads VmRSS and VmHWM of `pid`; undefined once the process is gone. */
export function readMemory(pid: number): MemoryReading | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: kib(status, 'VmRSS'), hwm: kib(status, 'VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Resets VmHWM of `pid` to its current RSS (writing 5 to clear_refs, Linux ≥ 4.0), so the next
 * reading's peak belongs to the work in between. Returns false when the kernel refused.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks (100 on every mainstream architecture). */
const ticksPerSecond = 100;

/**
 * CPU time of `pid` and of its children it has waited for (runc and the build steps), user plus
 * system, in milliseconds; undefined once the process is gone. Unlike wall time it hardly moves
 * with the machine's load, so it compares the work each daemon does.
 */
export function readCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3, the state.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    return (ticks * 1000) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average, recorded with every run so noisy runs can be told apart. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/**
 * Polls VmRSS every `intervalMs` while work runs, as a cross-check of VmHWM (which some kernels
 * cannot reset). Cheap: one small procfs read per tick.
 */
export class RssSampler {
  readonly #pid: number;
  #peak = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { pid: number; intervalMs?: number }) {
    this.#pid = options.pid;
    const tick = (): void => {
      const reading = readMemory(this.#pid);
      if (reading && reading.rss > this.#peak) this.#peak = reading.rss;
    };
    tick();
    this.#timer = setInterval(tick, options.intervalMs ?? 20);
    this.#timer.unref();
  }

  /** Stops polling; returns the largest VmRSS seen, in bytes. */
  stop(): number {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#peak;
  }
}
