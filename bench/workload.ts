import type { State } from '../llb/index.js';
import type { CommandResult } from './command.js';
import type { BenchDaemon, Engine } from './daemon.js';

/** How a build is handed to the daemon: LLB from the TypeScript builder, or a Dockerfile. */
export type BuildForm = 'llb' | 'dockerfile';

/** One build, in both forms where the workload has a Dockerfile (LLB is always there). */
export interface BuildSpec {
  readonly llb: State;
  /** The same build as a Dockerfile, for `--form dockerfile` (its context is `contextDir`). */
  readonly dockerfile?: string;
  /** Directory sent as `--local context=…` (both forms). */
  readonly contextDir?: string;
  /** Extra frontend options in Dockerfile form (`platform=…`). */
  readonly frontendOpts?: Readonly<Record<string, string>>;
  /** Overrides the run's form (a workload that only means something in one form). */
  readonly form?: BuildForm;
}

/** What every workload shares for one bench run; prepared before the first repetition. */
export interface BenchEnvironment {
  /** `127.0.0.1:PORT` of the registry both daemons pull from. */
  readonly registryHost: string;
  /** A second registry, destination of pushes measured against `skopeo copy` (no cross-repo mounts). */
  readonly pushRegistryHost: string;
  /** The multi-arch busybox image in `registryHost`, `HOST/REPO:TAG` (what a Dockerfile names). */
  readonly baseRef: string;
  /**
   * The same, pinned: `HOST/REPO:TAG@sha256:…` of its index, as the Dockerfile frontend hands it
   * to the solver after resolving. LLB uses it: BuildKit matches imported cache only for pinned images.
   */
  readonly pinnedBaseRef: string;
  readonly quick: boolean;
  readonly form: BuildForm;
  /** Inputs kept from run to run (contexts, image layouts), made on first use. */
  readonly inputsDir: string;
  /** A directory for this run's scratch space and daemon state; removed when every run is over. */
  readonly workDir: string;
  readonly buildctl: string;
  readonly signal?: AbortSignal;
}

/** One measured run of a workload against one daemon (a fresh one, started for it). */
export interface RunContext {
  readonly engine: Engine;
  readonly daemon: BenchDaemon;
  readonly env: BenchEnvironment;
  /** Repetition number, from 0; used to keep names (pushed tags, cache refs) distinct. */
  readonly rep: number;
  /** A directory private to this run (outputs, traces); removed with the work directory. */
  readonly scratch: string;
  /** Runs `buildctl build` for `spec` in the run's form; `args` are added (outputs, cache). */
  build(spec: BuildSpec, args?: readonly string[], options?: BuildOptions): Promise<BuildOutcome>;
  /** Runs any other buildctl subcommand against the daemon. */
  buildctl(args: readonly string[]): Promise<CommandResult>;
  /**
   * Times `work` as phase `name`: the daemon's peak RSS is reset before and read after, the load
   * average noted. The phase's figure is `work`'s own when it returns a number of milliseconds.
   */
  phase(name: string, work: () => Promise<number | CommandResult | void>): Promise<void>;
  /** Records a figure measured inside a phase (one vertex's time, from the trace). */
  record(name: string, ms: number): void;
}

export interface BuildOptions {
  /** Ask buildctl for a trace (`--trace`), parsed into vertex times. */
  readonly trace?: boolean;
}

export interface BuildOutcome extends CommandResult {
  /** Vertex name → milliseconds from started to completed (with `trace`); cached ones are absent. */
  readonly vertexMs: ReadonlyMap<string, number>;
  /** How many vertices the daemon reported as cached (with `trace`). */
  readonly cached: number;
}

/** The same run for a plain tool (skopeo copy, cp -a) that a workload is compared against. */
export interface BaselineContext {
  readonly env: BenchEnvironment;
  readonly rep: number;
  readonly scratch: string;
  /** Times `work` as phase `name` of the baseline. */
  phase(name: string, work: () => Promise<number | CommandResult | void>): Promise<void>;
}

/** What a phase must reach: at most `max` × the figure of `versus`. */
export interface Target {
  readonly phase: string;
  readonly versus: 'buildkit' | 'baseline' | 'absolute-ms';
  readonly max: number;
  /** Where the target comes from (issue, table row). */
  readonly note: string;
}

/** A benchmark workload: the same builds run against every engine. */
export interface Workload {
  /** Short name for `--only` and the JSON. */
  readonly name: string;
  readonly title: string;
  /** What the baseline tool is called in the table, when there is one. */
  readonly baselineName?: string;
  readonly targets?: readonly Target[];
  /** Makes shared inputs (contexts, pushed images) once per bench run. */
  prepare?(env: BenchEnvironment): Promise<void>;
  /** One repetition against a fresh daemon; phases from cold, then warm and the rest. */
  run(ctx: RunContext): Promise<void>;
  /** One repetition of the plain-tool comparison. */
  baseline?(ctx: BaselineContext): Promise<void>;
}
