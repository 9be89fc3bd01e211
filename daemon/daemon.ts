import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { LocalContentStore } from '../content/index.js';
import { gatewayCaps, gatewayExecCaps } from '../frontend/gateway/index.js';
import { CacheExporter, CacheImporter, Exporters } from '../exporters/index.js';
import { RuncExecutor } from '../executor/index.js';
import { llbCaps } from '../llb/index.js';
import { parsePlatform, platformRank, type Platform } from '../oci/index.js';
import { Control } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { LLBBridge } from '../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { Health } from '../proto/gen/grpc/health/v1/health_pb.js';
import { Insight } from '../proto/gen/kiln/v1/insight_pb.js';
import { grpcServiceDefinition } from '../proto/index.js';
import { dockerConfigCredentials, RegistryClient } from '../registry/index.js';
import { bytesMessageCodec, SessionManager } from '../session/index.js';
import { createSnapshotter } from '../snapshotter/index.js';
import {
  BuildController,
  BuildHistory,
  CacheMounts,
  CacheStore,
  ChecksumMemo,
  createOpFactory,
  HttpSourceCache,
  JobRegistry,
  loadDefinition,
  opSnapshots,
  RegistryAccess,
  RegistryImageConfigResolver,
  ResultFiles,
  Scheduler,
  SnapshotAccess,
  SnapshotChecksums,
  StorageManager,
  TreeRecordStore,
  type Frontend,
} from '../solver/index.js';
import { createGatewayFrontend } from '../solver/gateway-frontend/index.js';
import type { KilndConfig } from './config.js';
import { controlService, type DiskUsageService } from './control-service.js';
import { deferredService } from './deferred-service.js';
import { openDatabase } from './database.js';
import { ConfigError } from './errors.js';
import { gatewayService } from './gateway-service.js';
import { defaultBudget, defaultGcPolicies, GarbageCollector } from './gc.js';
import { internalStorage } from './internal-storage.js';
import { healthService } from './health-service.js';
import { insightService } from './insight-service.js';
import { startDebugServer } from './debug-server.js';
import { InsightWeb } from './insight-web/index.js';
import { Metrics } from './metrics.js';
import { ClientReportedError, failStream, toServiceError } from './grpc-status.js';
import { RootLock } from './root-lock.js';
import { ApiServer } from './server.js';
import { kilnVersion } from './version.js';
import { loadWorkerId, workerLabels, type WorkerInfo } from './worker-info.js';

export interface RunningDaemon {
  readonly config: KilndConfig;
  readonly worker: WorkerInfo;
  /** Stops serving (running calls get `graceMs` to finish) and releases the root. */
  stop(graceMs?: number): Promise<void>;
}

/** The platforms the worker offers: detected, then narrowed to `[worker.oci] platforms` when set. */
function narrowPlatforms(config: KilndConfig, detected: readonly Platform[]): Platform[] {
  if (!config.worker.platforms) return [...detected];
  return config.worker.platforms.map((spec) => {
    const wanted = parsePlatform(spec);
    if (!detected.some((p) => platformRank(p, wanted) !== undefined)) {
      throw new ConfigError(
        'worker.oci.platforms',
        `${spec} cannot run on this machine (no working emulator)`,
      );
    }
    return wanted;
  });
}

/** Undo steps, run in reverse order of setup. */
type Cleanup = (graceMs: number) => Promise<void> | void;

/**
 * The composition root: builds every subsystem from the configuration, wires them together and
 * serves the API. Nothing else constructs concrete classes or hands out loggers.
 */
export async function startDaemon(
  config: KilndConfig,
  logger: Logger,
  options: { frontends?: ReadonlyMap<string, Frontend> } = {},
): Promise<RunningDaemon> {
  for (const key of config.unknownKeys) logger.warn({ key }, 'unknown configuration key ignored');
  const root = config.root;
  const lock = await RootLock.acquire(root);
  const cleanups: Cleanup[] = [() => lock.release()];
  const stop = async (graceMs: number): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup(graceMs);
      } catch (err) {
        logger.warn({ err }, 'shutdown step failed');
      }
    }
  };
  const server = new ApiServer({
    logger,
    ...(config.grpc.tls ? { tls: config.grpc.tls } : {}),
    ...(config.grpc.uid !== undefined ? { uid: config.grpc.uid } : {}),
    ...(config.grpc.gid !== undefined ? { gid: config.grpc.gid } : {}),
  });
  let services!: { resolve: (s: Services) => void; reject: (e: unknown) => void };
  const ready = new Promise<Services>((resolve, reject) => (services = { resolve, reject }));
  const controlDefinition = withFastSessionCodec(grpcServiceDefinition(Control));
  server.addService(
    controlDefinition,
    deferredService(
      controlDefinition,
      ready.then((s) => s.control),
    ),
  );
  server.addService(
    grpcServiceDefinition(LLBBridge),
    deferredService(
      grpcServiceDefinition(LLBBridge),
      ready.then((s) => s.gateway),
    ),
  );
  const insightDefinition = grpcServiceDefinition(Insight);
  server.addService(
    insightDefinition,
    deferredService(
      insightDefinition,
      ready.then((s) => s.insight),
    ),
  );
  let serving = false;
  server.addService(
    grpcServiceDefinition(Health),
    healthService(() => serving) as UntypedServiceImplementation,
  );
  try {
    for (const address of config.addresses) server.check(address);
    for (const address of config.addresses) await server.listen(address);
  } catch (err) {
    await server.close(0);
    lock.release();
    throw err;
  }
  // Closed last: running builds keep their calls until the controller has drained them.
  cleanups.push(() => server.close(1000));
  try {
    const db = openDatabase(root);
    cleanups.push(() => {
      db.close();
    });
    const executor = new RuncExecutor({
      root: join(root, 'executor'),
      runtime: config.worker.runtime,
      // As BuildKit: setuid binaries (su, ping …) keep working inside build steps.
      noNewPrivileges: false,
      logger: logger.child({ component: 'executor' }),
    });
    const [content, snapshotter, detected] = await Promise.all([
      LocalContentStore.open({
        root: join(root, 'content'),
        db,
        logger: logger.child({ component: 'content' }),
      }),
      createSnapshotter({
        kind: config.worker.snapshotter,
        root: join(root, 'snapshots'),
        db,
        logger: logger.child({ component: 'snapshotter' }),
      }),
      executor.recover().then(() => executor.platforms()),
    ]);
    cleanups.push(() => snapshotter.close());
    await snapshotter.cleanup();
    const platforms = narrowPlatforms(config, detected);
    const worker: WorkerInfo = {
      id: await loadWorkerId(root),
      labels: workerLabels({ snapshotter: snapshotter.driver, networkMode: config.worker.networkMode }),
      platforms,
      version: kilnVersion(),
    };
    const sessions = new SessionManager({ logger: logger.child({ component: 'session' }) });
    cleanups.push(() => sessions.close());
    const registryRoot = new RegistryClient({
      hosts: config.registries,
      db,
      logger: logger.child({ component: 'registry' }),
    });
    cleanups.push(() => registryRoot.close());
    const registries = new RegistryAccess({
      root: registryRoot,
      sessions,
      hostCredentials: dockerConfigCredentials(join(homedir(), '.docker', 'config.json')),
      logger: logger.child({ component: 'registry' }),
    });
    const access = new SnapshotAccess(snapshotter);
    const records = new TreeRecordStore({ db });
    const cache = new CacheStore({ db });
    const cacheMounts = new CacheMounts({ root: join(root, 'cachemounts'), db });
    const jobs = new JobRegistry();
    const scheduler = new Scheduler({
      cache,
      defaultPlatform: platforms[0]!,
      ...(config.worker.maxParallelism ? { maxParallelism: config.worker.maxParallelism } : {}),
      logger: logger.child({ component: 'scheduler' }),
      checksums: new SnapshotChecksums(new ChecksumMemo({ db }), records, access),
      ops: createOpFactory({
        snapshotter,
        snapshots: opSnapshots(snapshotter),
        executor,
        content,
        registries,
        sessions,
        cacheMounts,
        records,
        httpCache: new HttpSourceCache({ db }),
        defaultNetwork: config.worker.networkMode,
        logger: logger.child({ component: 'ops' }),
      }),
    });
    const history = new BuildHistory({
      db,
      maxAgeMs: config.history.maxAgeMs,
      maxEntries: config.history.maxEntries,
    });
    const cacheExporter = new CacheExporter({
      sessions,
      snapshotter,
      content,
      registries,
      cacheMounts,
      defaultPlatform: platforms[0]!,
      logger: logger.child({ component: 'cache' }),
    });
    const controller = new BuildController({
      history,
      jobs,
      scheduler,
      allowedEntitlements: new Set(config.insecureEntitlements),
      logger: logger.child({ component: 'controller' }),
      // Inline cache and lazy (remote-cache) results are handled around the outputs.
      exporter: cacheExporter.outputs(
        new Exporters({
          sessions,
          access,
          snapshotter,
          content,
          registries,
          defaultPlatform: platforms[0]!,
          logger: logger.child({ component: 'exporters' }),
        }),
      ),
      cacheExporter,
      cacheImporter: new CacheImporter({
        sessions,
        snapshotter,
        content,
        registries,
        cacheMounts,
        logger: logger.child({ component: 'cache' }),
      }),
      gateway: {
        loadDefinition: (definition) => loadDefinition(definition),
        frontends: new Map([
          ...(options.frontends ?? []),
          [
            'gateway.v0',
            createGatewayFrontend({
              executor,
              snapshots: opSnapshots(snapshotter),
              cacheMounts,
              worker,
              gatewayCaps: [...gatewayCaps, ...gatewayExecCaps],
              llbCaps: llbCaps.map((c) => ({ id: c.id, enabled: c.enabled })),
              errors: { toServiceError, fromStatus: (status) => new ClientReportedError(status) },
              stateDir: join(root, 'gateway'),
              defaultNetwork: config.worker.networkMode,
              logger: logger.child({ component: 'gateway-frontend' }),
            }),
          ],
        ]),
        files: new ResultFiles(access),
        images: new RegistryImageConfigResolver(registries, content),
        workerPlatforms: platforms,
      },
    });
    const storage = new StorageManager({
      cache,
      snapshotter,
      cacheMounts,
      records,
      inUse: () => scheduler.snapshotsInUse(),
      extra: internalStorage({ content }),
      logger: logger.child({ component: 'storage' }),
    });
    if (config.worker.gc) {
      const gc = new GarbageCollector({
        storage,
        root,
        ...(config.worker.gcDelayMs !== undefined ? { afterBuildDelayMs: config.worker.gcDelayMs } : {}),
        policies:
          config.worker.gcPolicies.length > 0
            ? config.worker.gcPolicies
            : defaultGcPolicies(config.worker.gcKeepStorage ?? (await defaultBudget(root))),
        logger: logger.child({ component: 'gc' }),
      });
      const unsubscribe = history.subscribe((event) => {
        if (event.type === 'complete') gc.schedule();
      });
      gc.start();
      cleanups.push(() => {
        unsubscribe();
        gc.stop();
      });
    }
    const repaired = await storage.reconcile();
    if (repaired.snapshots + repaired.records > 0)
      logger.info(repaired, 'removed leftovers of an earlier run');
    // Set once the debug server listens; it closes after the drain, so /readyz says "draining".
    let closeDebug: (() => Promise<void>) | undefined;
    cleanups.push(async (graceMs) => {
      serving = false;
      const { finished } = await controller.drain(graceMs);
      if (!finished) logger.warn({ graceMs }, 'builds still running at shutdown were cancelled');
      await closeDebug?.();
      // Before anything below it closes: no call may reach a closed database or snapshotter.
      await server.close(1000);
    });
    const diskUsage: DiskUsageService = {
      usage: (filters) => storage.usage(filters),
      prune: (options, signal) => storage.prune(options, signal),
    };
    // The build view follows builds from their start, so it exists before the first build can.
    const insightWeb = config.debugAddress
      ? await InsightWeb.create({
          db,
          history,
          jobs,
          records,
          logger: logger.child({ component: 'insight-web' }),
        })
      : undefined;
    services.resolve({
      control: controlService({
        controller,
        jobs,
        worker,
        diskUsage,
        history,
        sessions: {
          accept: (call) => {
            sessions.accept(call).catch((err: unknown) => failStream(call, toServiceError(err)));
          },
        },
      }),
      insight: insightService({ history, records }) as UntypedServiceImplementation,
      gateway: gatewayService({
        controller,
        worker,
        llbCaps: llbCaps.map((c) => ({ id: c.id, enabled: c.enabled })),
      }),
    });
    if (config.debugAddress) {
      const metrics = new Metrics();
      let usage: { at: number; bytes: Map<string, number> } | undefined;
      metrics.gauge(async () => {
        metrics.set('kiln_queue_depth', scheduler.queued);
        metrics.set('kiln_running_ops', scheduler.running);
        metrics.set('kiln_builds_active', jobs.size);
        // Walking the store costs; a scrape every few seconds must not.
        if (!usage || Date.now() - usage.at > 30_000) {
          const bytes = new Map<string, number>();
          for (const r of await storage.usage())
            bytes.set(r.recordType, (bytes.get(r.recordType) ?? 0) + r.size);
          usage = { at: Date.now(), bytes };
        }
        for (const [type, bytes] of usage.bytes) metrics.set('kiln_disk_usage_bytes', bytes, { type });
      });
      const debug = await startDebugServer(
        config.debugAddress,
        { metrics, ready: () => serving, ...(insightWeb ? { extra: insightWeb.routes() } : {}) },
        logger,
      );
      closeDebug = () => {
        metrics.close();
        // Its event streams stay open until closed, and the server waits for them.
        insightWeb?.close();
        return new Promise<void>((resolve) => debug.close(() => resolve()));
      };
    }
    serving = true;
    logger.info(
      { root, snapshotter: snapshotter.driver, platforms: platforms.length, worker: worker.id },
      'kilnd ready',
    );
    return { config, worker, stop: (graceMs = 0) => stop(graceMs) };
  } catch (err) {
    services.reject(err);
    await stop(0);
    throw err;
  }
}

/** Control.Session carries every byte of the tunnel: use the hand-written codec, not reflection. */
function withFastSessionCodec(definition: ServiceDefinition): ServiceDefinition {
  const session = definition.session!;
  return {
    ...definition,
    session: {
      ...session,
      requestDeserialize: bytesMessageCodec.deserialize,
      responseSerialize: bytesMessageCodec.serialize as (value: unknown) => Buffer,
    },
  };
}

interface Services {
  readonly control: UntypedServiceImplementation;
  readonly insight: UntypedServiceImplementation;
  readonly gateway: UntypedServiceImplementation;
}
