/**
 * kiln's client library (`import { Client } from 'kiln'`): builds, disk usage, prune, workers,
 * info and build history against kilnd or any BuildKit-compatible daemon; the progress display
 * kilnctl uses; buildctl's flag parsers for tools that accept the same syntax.
 */
export {
  type BuildkitVersion,
  type ClientOptions,
  type PruneInfo,
  type PruneOptions,
  type UsageInfo,
  type WorkerInfo,
  Client,
} from './client.js';
export type { BuildOptions, BuildOutput, BuildResult } from './build/build-options.js';
export type { BuildRun } from './build/run-build.js';
export { type ClientTls, loadTlsFiles } from './connect.js';
export {
  BuildFailedError,
  CapabilityError,
  ClientConnectError,
  ClientOutputError,
  ClientUsageError,
  DaemonError,
  type ErrorSource,
} from './errors.js';
export { formatErrorSource } from './daemon-error.js';
export {
  type ProgressDisplayOptions,
  type ProgressLog,
  type ProgressMode,
  type ProgressOutput,
  type ProgressStatus,
  type ProgressVertex,
  type ProgressWarning,
  type SolveStatus,
  ProgressDisplay,
} from './progress/index.js';
export { type OutputFlag, parseOutputFlag } from './options/output.js';
export { type CacheEntry, parseExportCacheFlags, parseImportCacheFlags } from './options/cache.js';
export {
  type Entitlement,
  type SecretFlag,
  type SshFlag,
  parseAllowFlag,
  parseSecretFlag,
  parseSshFlag,
} from './options/secret.js';
export { metadataFileContent, writeMetadataFile } from './options/metadata-file.js';
export type { DockerConfig, SecretSource } from './session/index.js';
