import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type {
  handleBidiStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerDuplexStream,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  DiskUsageResponseSchema,
  InfoResponseSchema,
  ListWorkersResponseSchema,
  SolveResponseSchema,
  UsageRecordSchema,
  type BytesMessage,
  type DiskUsageRequest,
  type DiskUsageResponse,
  type InfoRequest,
  type InfoResponse,
  type ListWorkersRequest,
  type ListWorkersResponse,
  type PruneRequest,
  type SolveRequest,
  type SolveResponse,
  type StatusRequest,
  type StatusResponse,
  type UsageRecord,
} from '../proto/gen/moby/buildkit/v1/control_pb.js';
import type {
  BuildController,
  BuildHistory,
  BuildRequest,
  JobRegistry,
  ProgressEvent,
} from '../solver/index.js';
import { failStream, toServiceError } from './grpc-status.js';
import { historyHandlers } from './history-service.js';
import { toStatusResponse } from './status-encoding.js';
import { toWorkerRecord, type WorkerInfo } from './worker-info.js';

/** One entry of `buildctl du`. */
export interface UsageEntry {
  readonly id: string;
  readonly mutable: boolean;
  readonly inUse: boolean;
  readonly size: number;
  readonly parents: readonly string[];
  readonly createdAt: Date;
  readonly lastUsedAt?: Date;
  readonly usageCount: number;
  readonly description: string;
  readonly recordType: string;
  readonly shared: boolean;
}

export interface PruneOptions {
  readonly filters: readonly string[];
  readonly all: boolean;
  readonly keepDurationMs: number;
  readonly keepBytes: number;
}

export interface DiskUsageService {
  usage(filters: readonly string[]): Promise<UsageEntry[]>;
  prune(options: PruneOptions, signal: AbortSignal): AsyncIterable<UsageEntry>;
}

/** Hands each Control.Session call to the session manager. */
export interface SessionAcceptor {
  accept(call: ServerDuplexStream<BytesMessage, BytesMessage>): void;
}

export interface ControlServiceDeps {
  readonly controller: BuildController;
  readonly jobs: JobRegistry;
  readonly worker: WorkerInfo;
  readonly diskUsage: DiskUsageService;
  readonly sessions: SessionAcceptor;
  readonly history: BuildHistory;
}

/** Status calls may arrive before Solve registers the job; the reference waits 6 s. */
const statusWaitMs = 6000;
/** Events per StatusResponse when a finished build is replayed. */
const replayBatch = 512;

function* replayBatches(events: readonly ProgressEvent[]): Generator<ProgressEvent[]> {
  for (let i = 0; i < events.length; i += replayBatch) yield events.slice(i, i + replayBatch);
}

function toUsageRecord(entry: UsageEntry): UsageRecord {
  return create(UsageRecordSchema, {
    ID: entry.id,
    Mutable: entry.mutable,
    InUse: entry.inUse,
    Size: BigInt(entry.size),
    Parent: entry.parents[0] ?? '',
    CreatedAt: timestampFromDate(entry.createdAt),
    ...(entry.lastUsedAt ? { LastUsedAt: timestampFromDate(entry.lastUsedAt) } : {}),
    UsageCount: BigInt(entry.usageCount),
    Description: entry.description,
    RecordType: entry.recordType,
    Shared: entry.shared,
    Parents: [...entry.parents],
  });
}

export function toBuildRequest(req: SolveRequest): BuildRequest {
  const exporters =
    req.Exporters.length > 0
      ? req.Exporters.map((e) => ({ type: e.Type, attrs: { ...e.Attrs } }))
      : req.Exporter
        ? [{ type: req.Exporter, attrs: { ...req.ExporterAttrs } }]
        : [];
  const cache = req.Cache;
  const legacyExport = cache?.ExportRefDeprecated
    ? [{ type: 'registry', attrs: { ...cache.ExportAttrsDeprecated, ref: cache.ExportRefDeprecated } }]
    : [];
  const legacyImports = (cache?.ImportRefsDeprecated ?? []).map((ref) => ({
    type: 'registry',
    attrs: { ref },
  }));
  return {
    ref: req.Ref,
    sessionId: req.Session,
    ...(req.Definition && req.Definition.def.length > 0 ? { definition: req.Definition } : {}),
    frontend: req.Frontend,
    frontendAttrs: { ...req.FrontendAttrs },
    exporters,
    cacheExports: [
      ...(cache?.Exports ?? []).map((e) => ({ type: e.Type, attrs: { ...e.Attrs } })),
      ...legacyExport,
    ],
    cacheImports: [
      ...(cache?.Imports ?? []).map((e) => ({ type: e.Type, attrs: { ...e.Attrs } })),
      ...legacyImports,
    ],
    entitlements: [...req.Entitlements],
    internal: req.Internal,
  };
}

/** Thin adapters from `moby.buildkit.v1.Control` calls to the solver and the daemon's services. */
export function controlService(deps: ControlServiceDeps): UntypedServiceImplementation {
  const solve: handleUnaryCall<SolveRequest, SolveResponse> = (call, callback) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    deps.controller.solve(toBuildRequest(call.request), abort.signal).then(
      (response) => callback(null, create(SolveResponseSchema, { ExporterResponse: response })),
      (err: unknown) => callback(toServiceError(err)),
    );
  };

  const status: handleServerStreamingCall<StatusRequest, StatusResponse> = (call) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    void (async () => {
      const ref = call.request.Ref;
      // A finished build replays from history (`buildctl debug logs`); otherwise it is running or
      // about to be registered.
      const finished = deps.jobs.find(ref) ? undefined : deps.history.progress(ref);
      const batches = finished
        ? replayBatches(finished)
        : (await deps.jobs.get(ref, { timeoutMs: statusWaitMs, signal: abort.signal })).progress.read(
            abort.signal,
          );
      for await (const batch of batches) {
        if (!call.write(toStatusResponse(batch))) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })().catch((err: unknown) => {
      if (!abort.signal.aborted) failStream(call, toServiceError(err));
    });
  };

  const session: handleBidiStreamingCall<BytesMessage, BytesMessage> = (call) => deps.sessions.accept(call);

  const listWorkers: handleUnaryCall<ListWorkersRequest, ListWorkersResponse> = (_call, callback) => {
    callback(null, create(ListWorkersResponseSchema, { record: [toWorkerRecord(deps.worker)] }));
  };

  const info: handleUnaryCall<InfoRequest, InfoResponse> = (_call, callback) => {
    callback(null, create(InfoResponseSchema, { buildkitVersion: { ...deps.worker.version } }));
  };

  const diskUsage: handleUnaryCall<DiskUsageRequest, DiskUsageResponse> = (call, callback) => {
    deps.diskUsage.usage(call.request.filter).then(
      (entries) => callback(null, create(DiskUsageResponseSchema, { record: entries.map(toUsageRecord) })),
      (err: unknown) => callback(toServiceError(err)),
    );
  };

  const prune: handleServerStreamingCall<PruneRequest, UsageRecord> = (call) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const options: PruneOptions = {
      filters: call.request.filter,
      all: call.request.all,
      keepDurationMs: Number(call.request.keepDuration / 1_000_000n),
      keepBytes: Number(call.request.keepBytes),
    };
    void (async () => {
      for await (const entry of deps.diskUsage.prune(options, abort.signal)) call.write(toUsageRecord(entry));
      call.end();
    })().catch((err: unknown) => failStream(call, toServiceError(err)));
  };

  return {
    solve,
    status,
    session,
    listWorkers,
    info,
    diskUsage,
    prune,
    ...historyHandlers(deps.history),
  };
}
