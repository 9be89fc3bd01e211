/**
 * bench/: the benchmark runner. `run.ts` is the command (`npm run bench`); these are its parts,
 * for tests and for scripts that measure something else the same way.
 */
export { BenchUsageError, CommandFailedError, DaemonStartError, WorkloadCheckError } from './errors.js';
export { runCommand, type CommandOptions, type CommandResult } from './command.js';
export { startDaemon, type BenchDaemon, type DaemonSpec, type Engine } from './daemon.js';
export { loadAverage, readCpuMs, readMemory, resetPeak, RssSampler, type MemoryReading } from './proc.js';
export { ratio, summarize, type Summary } from './stats.js';
export { parseTrace, type TraceSummary } from './trace.js';
export {
  changeOneFile,
  contextTree,
  filePath,
  fileSizes,
  fullContext,
  quickContext,
  type ContextShape,
} from './context-tree.js';
export { bigImage, pushLayout, type BigImage } from './big-image.js';
export { deleteBlob, manifestExists } from './registry-check.js';
export { benchUsage, parseBenchArgs, type BenchEnvVars, type BenchOptions } from './options.js';
export { renderProfile, summarizeProfiles, type ProfileSummary, type SelfTime } from './profile.js';
export {
  renderSummary,
  summarizeBench,
  type BenchSummary,
  type FailureRow,
  type MemoryRow,
  type PhaseRow,
} from './report.js';
export { runBench, type EngineSpec, type Measurement, type RunnerOptions, type Subject } from './runner.js';
export type {
  BaselineContext,
  BenchEnvironment,
  BuildForm,
  BuildOptions,
  BuildOutcome,
  BuildSpec,
  RunContext,
  Target,
  Workload,
} from './workload.js';
export { workloads } from './workloads/index.js';
