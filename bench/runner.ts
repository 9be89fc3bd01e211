import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBinary } from '@bufbuild/protobuf';
import { marshal } from '../llb/index.js';
import { DefinitionSchema } from '../proto/gen/pb/ops_pb.js';
import { runCommand, type CommandResult } from './command.js';
import { startDaemon, type BenchDaemon, type Engine } from './daemon.js';
import { loadAverage, readCpuMs, readMemory, resetPeak, RssSampler } from './proc.js';
import { parseTrace } from './trace.js';
import type {
  BaselineContext,
  BenchEnvironment,
  BuildOptions,
  BuildOutcome,
  BuildSpec,
  RunContext,
  Workload,
} from './workload.js';

/** Who a figure belongs to: one of the daemons, or the plain tool of the workload's baseline. */
export type Subject = Engine | 'baseline';

/** One figure of one repetition. Times in milliseconds, memory in bytes. */
export interface Measurement {
  readonly workload: string;
  /** A phase (`cold`, `warm`, …), `idle` (RSS after start-up), `after` (RSS held after the run). */
  readonly phase: string;
  readonly subject: Subject;
  readonly rep: number;
  readonly ms?: number;
  /** CPU time of the daemon and its reaped children during the phase. */
  readonly cpuMs?: number;
  readonly peakRss?: number;
  readonly rss?: number;
  /** 1-minute load average when the phase started. */
  readonly load: number;
  readonly error?: string;
}

export interface EngineSpec {
  readonly engine: Engine;
  /** kilnd's compiled main.js, or the buildkitd binary. */
  readonly binary: string;
  /** kilnd only: more node flags. */
  readonly nodeFlags?: readonly string[];
}

export interface RunnerOptions {
  readonly workloads: readonly Workload[];
  readonly engines: readonly EngineSpec[];
  readonly env: BenchEnvironment;
  readonly runs: number;
  /** CPU profiles of kilnd, one directory per workload. */
  readonly profileDir?: string;
  /** Receives one line per finished phase. */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

const mb = (bytes: number | undefined): string =>
  bytes === undefined ? '-' : `${(bytes / 2 ** 20).toFixed(0)} MB`;

/**
 * Writes back what earlier phases left in the page cache, so that no phase pays for another's
 * data: the kernel flushes dirty pages about 30 s after they were written, into whatever phase
 * then runs, and on ext4 a registry's fsync waits for that writeback too.
 */
async function settleDisk(): Promise<void> {
  await runCommand('sync', []);
}

/** The milliseconds a phase's work reports, else the time it took. */
function phaseMs(result: number | CommandResult | void, elapsed: number): number {
  if (typeof result === 'number') return result;
  return result?.ms ?? elapsed;
}

/**
 * Runs every workload `runs` times against each engine, a fresh daemon per repetition, engines
 * interleaved (their order alternating between repetitions) so load from neighbours falls on both.
 * A failing repetition is recorded as an error and the run goes on. Costs what the workloads cost
 * plus a daemon start per repetition.
 */
export async function runBench(options: RunnerOptions): Promise<Measurement[]> {
  const out: Measurement[] = [];
  const { env, signal } = options;
  for (const workload of options.workloads) {
    await workload.prepare?.(env);
    for (let rep = 0; rep < options.runs; rep++) {
      signal?.throwIfAborted();
      const engines = rep % 2 ? [...options.engines].reverse() : options.engines;
      if (workload.baseline && rep % 2 === 0) await runBaseline(workload, rep, options, out);
      for (const engine of engines) await runOnce(workload, engine, rep, options, out);
      if (workload.baseline && rep % 2 === 1) await runBaseline(workload, rep, options, out);
    }
  }
  return out;
}

async function runBaseline(
  workload: Workload,
  rep: number,
  options: RunnerOptions,
  out: Measurement[],
): Promise<void> {
  const scratch = await mkdtemp(join(options.env.workDir, `${workload.name}-baseline-`));
  const ctx: BaselineContext = {
    env: options.env,
    rep,
    scratch,
    phase: async (name, work) => {
      await settleDisk();
      const load = loadAverage();
      const started = performance.now();
      try {
        const ms = phaseMs(await work(), performance.now() - started);
        out.push({ workload: workload.name, phase: name, subject: 'baseline', rep, ms, load });
        options.progress?.(
          `${workload.name} #${rep + 1} ${workload.baselineName}: ${name} ${ms.toFixed(0)} ms`,
        );
      } catch (error) {
        const message = (error as Error).message;
        out.push({ workload: workload.name, phase: name, subject: 'baseline', rep, load, error: message });
        options.progress?.(
          `${workload.name} #${rep + 1} ${workload.baselineName}: ${name} FAILED ${message}`,
        );
      }
    },
  };
  await workload.baseline!(ctx);
}

async function runOnce(
  workload: Workload,
  spec: EngineSpec,
  rep: number,
  options: RunnerOptions,
  out: Measurement[],
): Promise<void> {
  const { env } = options;
  const base = { workload: workload.name, subject: spec.engine, rep } as const;
  const profileDir =
    spec.engine === 'kiln' && options.profileDir ? join(options.profileDir, workload.name) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  let daemon: BenchDaemon;
  try {
    daemon = await startDaemon({
      engine: spec.engine,
      binary: spec.binary,
      buildctl: env.buildctl,
      registryHosts: [env.registryHost, env.pushRegistryHost],
      // Removed with the work directory once every run is over (see keepState).
      parentDir: env.workDir,
      keepState: true,
      ...(profileDir ? { profileDir } : {}),
      ...(spec.nodeFlags ? { nodeFlags: spec.nodeFlags } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    out.push({ ...base, phase: 'start', load: loadAverage(), error: (error as Error).message });
    options.progress?.(
      `${workload.name} #${rep + 1} ${spec.engine}: start FAILED ${(error as Error).message}`,
    );
    return;
  }
  const scratch = await mkdtemp(join(env.workDir, `${workload.name}-${spec.engine}-`));
  try {
    await sleep(300);
    out.push({ ...base, phase: 'idle', rss: readMemory(daemon.pid)?.rss ?? 0, load: loadAverage() });
    const ctx = runContext(workload, daemon, rep, scratch, options, out);
    try {
      await workload.run(ctx);
    } catch (error) {
      const message = (error as Error).message;
      out.push({ ...base, phase: 'error', load: loadAverage(), error: message });
      options.progress?.(`${workload.name} #${rep + 1} ${spec.engine}: FAILED ${message}`);
    }
    await sleep(1000);
    out.push({ ...base, phase: 'after', rss: readMemory(daemon.pid)?.rss ?? 0, load: loadAverage() });
  } finally {
    await daemon.stop();
  }
}

function runContext(
  workload: Workload,
  daemon: BenchDaemon,
  rep: number,
  scratch: string,
  options: RunnerOptions,
  out: Measurement[],
): RunContext {
  const { env } = options;
  const base = { workload: workload.name, subject: daemon.engine, rep } as const;
  let builds = 0;
  const buildctl = (args: readonly string[], stdin?: Uint8Array): Promise<CommandResult> =>
    runCommand(env.buildctl, ['--addr', daemon.address, ...args], {
      ...(stdin ? { stdin } : {}),
      ...(env.signal ? { signal: env.signal } : {}),
    });
  const build = async (
    spec: BuildSpec,
    extra: readonly string[] = [],
    buildOptions: BuildOptions = {},
  ): Promise<BuildOutcome> => {
    const n = builds++;
    const args = ['build'];
    const trace = buildOptions.trace ? join(scratch, `trace-${n}.json`) : undefined;
    if (trace) args.push('--trace', trace);
    if (spec.contextDir) args.push('--local', `context=${spec.contextDir}`);
    let stdin: Uint8Array | undefined;
    if ((spec.form ?? env.form) === 'dockerfile' && spec.dockerfile !== undefined) {
      const dir = join(scratch, `dockerfile-${n}`);
      await mkdir(dir);
      await writeFile(join(dir, 'Dockerfile'), spec.dockerfile);
      args.push('--frontend', 'dockerfile.v0', '--local', `dockerfile=${dir}`);
      if (!spec.contextDir) args.push('--local', `context=${dir}`);
      for (const [k, v] of Object.entries(spec.frontendOpts ?? {})) args.push('--opt', `${k}=${v}`);
    } else {
      // A fixed local.unique keeps the definition (and so the cache) the same from build to build.
      stdin = toBinary(DefinitionSchema, marshal(spec.llb, { localUniqueId: 'kiln-bench' }));
    }
    const result = await buildctl([...args, ...extra], stdin);
    if (!trace) return { ...result, vertexMs: new Map(), cached: 0 };
    const summary = parseTrace(await readFile(trace, 'utf8').catch(() => ''));
    return { ...result, vertexMs: summary.vertexMs, cached: summary.cached };
  };
  return {
    engine: daemon.engine,
    daemon,
    env,
    rep,
    scratch,
    build,
    buildctl: (args) => buildctl(args),
    phase: async (name, work) => {
      await settleDisk();
      const load = loadAverage();
      resetPeak(daemon.pid);
      const cpuBefore = readCpuMs(daemon.pid) ?? 0;
      const sampler = new RssSampler({ pid: daemon.pid });
      const started = performance.now();
      let ms: number;
      let sampled = 0;
      try {
        ms = phaseMs(await work(), performance.now() - started);
      } finally {
        sampled = sampler.stop();
      }
      const peakRss = Math.max(sampled, readMemory(daemon.pid)?.hwm ?? 0);
      const cpuMs = (readCpuMs(daemon.pid) ?? cpuBefore) - cpuBefore;
      out.push({ ...base, phase: name, ms, cpuMs, peakRss, load });
      options.progress?.(
        `${workload.name} #${rep + 1} ${daemon.engine}: ${name} ${ms.toFixed(0)} ms, cpu ${cpuMs.toFixed(0)} ms, peak ${mb(peakRss)}, load ${load}`,
      );
    },
    record: (name, ms) => {
      out.push({ ...base, phase: name, ms, load: loadAverage() });
      options.progress?.(`${workload.name} #${rep + 1} ${daemon.engine}: ${name} ${ms.toFixed(0)} ms`);
    },
  };
}
