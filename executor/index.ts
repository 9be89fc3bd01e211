export type { Executor, ExecMount, HostIP, ProcessSpec, RunOptions, Ulimit } from './types.js';
export { RuncExecutor, type RuncExecutorOptions } from './runc-executor.js';
export { StepLog, defaultLogLimit } from './step-log.js';
export {
  type BinfmtHandler,
  type DetectOptions,
  type EmulatorStatus,
  type Probe,
  amd64Level,
  checkPlatform,
  chrootProbe,
  detectEmulators,
  detectPlatforms,
  handlerMatches,
  readBinfmtHandlers,
} from './emulation.js';
export { type ProbeArch, probeArches } from './probe-binaries.js';
export { type ResolvedUser, resolveUser } from './user.js';
export { resolveInRoot } from './root-path.js';
export { mountsUnder } from './host-mounts.js';
export { defaultCapabilities } from './privileges.js';
export { type RuntimeSpec, type SpecInput, type SpecMount, buildSpec, defaultPathEnv } from './spec.js';
export { defaultHostname, hostsContent } from './etc-files.js';
export {
  ContainerStartError,
  ExecCanceledError,
  ExecError,
  ExecutorError,
  HostMountError,
  InvalidProcessError,
  MountSourceNotFoundError,
  PlatformUnsupportedError,
  RuntimeUnavailableError,
  UserNotFoundError,
} from './errors.js';
