export {
  BuildController,
  type BuildRequest,
  type BuildResult,
  type BuiltVertex,
  type CacheExportRunner,
  type CacheImportRunner,
  type ExportRunner,
} from './controller.js';
export type { OpOutput } from './result-chain.js';
export type { VertexOutcome } from './vertex.js';
export type { BuildSources, ImageSource, MountedSecret } from './build-sources.js';
export { CacheStore, type CacheRecord } from './cache-store.js';
export { JobCanceledError, JobNotFoundError, SolveRequestError, VertexError } from './errors.js';
export {
  JobGateway,
  type GatewayServices,
  type ImageConfigResolver,
  type LoadedDefinition,
  type SnapshotFiles,
} from './gateway.js';
export type {
  FileStat,
  Frontend,
  GatewayClient,
  GatewayRef,
  GatewayResult,
  GatewaySolveRequest,
  ResolveImageOptions,
  ResolvedImageConfig,
} from './gateway-client.js';
export { Job, newId, type CacheOptionEntry, type ExporterRequest, type JobOptions } from './job.js';
export { JobProgress } from './job-progress.js';
export { JobRegistry } from './job-registry.js';
export { toOpView, type LlbOpView } from './llb-view.js';
export {
  emptyRef,
  materialized,
  snapshotOf,
  type CacheMap,
  type LazyLayers,
  type RemoteCache,
  type RemoteStep,
  type DepSpec,
  type OpContext,
  type ResultRef,
  type Selector,
  type SolverOp,
} from './op.js';
export type {
  LogRecord,
  ProgressEvent,
  ProgressGroup,
  ProgressSink,
  StatusRecord,
  StatusUpdate,
  VertexRecord,
  WarningRecord,
} from './progress.js';
export {
  Scheduler,
  type ContentChecksummer,
  type OpFactory,
  type SchedulerJob,
  type SolverGraph,
} from './scheduler.js';
export { SnapshotAccess } from './snapshot-access.js';
export { SyntheticVertex } from './synthetic-vertex.js';
export { CacheMounts, type CacheMountSeeder, type CacheSharing } from './cache-mounts.js';
export { ChecksumMemo } from './checksum.js';
export { SnapshotChecksums } from './content-checksums.js';
export { loadDefinition } from './definition-loader.js';
export { RegistryImageConfigResolver } from './image-config.js';
export { createOpFactory, HttpSourceCache, type OpDeps } from './ops/index.js';
export { opSnapshots } from './op-snapshots.js';
export { RegistryAccess } from './registry-access.js';
export { ResultFiles } from './snapshot-files.js';
export { TreeRecordStore } from './tree-records.js';
export {
  BuildHistory,
  stepCounts,
  type BuildRecord,
  type HistoryEvent,
  type HistoryStep,
} from './history.js';
export {
  StorageManager,
  recordFilter,
  type PruneOptions as StoragePruneOptions,
  type StorageRecord,
} from './storage.js';
export {
  bytesChannel,
  jobChannel,
  publishBytes,
  vertexChannel,
  type BytesEvent,
  type JobEvent,
  type VertexEvent,
} from './events.js';
export {
  criticalPath,
  explainBuild,
  type BuildExplanation,
  type MissReason,
  type StepExplanation,
} from './explain.js';
export { describeMiss, type ArgChange } from './miss-text.js';
export { opFacets, changedFacets, type OpFacets } from './op-facets.js';
