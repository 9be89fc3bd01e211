import type { Logger } from 'pino';
import { Control } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { LLBBridge } from '../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { grpcServiceDefinition } from '../proto/index.js';
import { detectPlatforms } from '../executor/index.js';
import { parsePlatform, platformRank, type Platform } from '../oci/index.js';
import { SessionManager } from '../session/index.js';
import { BuildController, CacheStore, JobRegistry, Scheduler } from '../solver/index.js';
import type { KilndConfig } from './config.js';
import { controlService, type DiskUsageService } from './control-service.js';
import { openDatabase } from './database.js';
import { ConfigError } from './errors.js';
import { gatewayService } from './gateway-service.js';
import { RootLock } from './root-lock.js';
import { ApiServer } from './server.js';
import { kilnVersion } from './version.js';
import { loadWorkerId, workerLabels, type WorkerInfo } from './worker-info.js';

export interface RunningDaemon {
  readonly config: KilndConfig;
  readonly worker: WorkerInfo;
  /** Stops serving and releases the root. Running calls get `graceMs` to finish. */
  stop(graceMs?: number): Promise<void>;
}

/** The platforms the worker offers: detected, then narrowed to `[worker.oci] platforms` when set. */
async function workerPlatforms(config: KilndConfig): Promise<Platform[]> {
  const detected = await detectPlatforms();
  if (!config.worker.platforms) return detected;
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

/**
 * The composition root: builds every subsystem from the configuration, wires them together and
 * serves the API. Nothing else constructs concrete classes or hands out loggers.
 */
export async function startDaemon(config: KilndConfig, logger: Logger): Promise<RunningDaemon> {
  for (const key of config.unknownKeys) logger.warn({ key }, 'unknown configuration key ignored');
  const lock = await RootLock.acquire(config.root);
  const db = openDatabase(config.root);
  const cleanups: Array<() => Promise<void> | void> = [() => db.close(), () => lock.release()];
  try {
    const platforms = await workerPlatforms(config);
    const worker: WorkerInfo = {
      id: await loadWorkerId(config.root),
      labels: workerLabels({ snapshotter: 'overlayfs', networkMode: config.worker.networkMode }),
      platforms,
      version: kilnVersion(),
    };
    const sessions = new SessionManager({ logger: logger.child({ component: 'session' }) });
    const cache = new CacheStore({ db });
    const jobs = new JobRegistry();
    const scheduler = new Scheduler({
      cache,
      defaultPlatform: platforms[0]!,
      ...(config.worker.maxParallelism ? { maxParallelism: config.worker.maxParallelism } : {}),
      logger: logger.child({ component: 'scheduler' }),
      checksums: {
        checksum: () => Promise.reject(new Error('content checksums are not wired yet')),
      },
      ops: (view) => {
        throw new Error(`kiln cannot run ${view.op.op.case ?? 'unknown'} ops yet`);
      },
    });
    const controller = new BuildController({
      jobs,
      scheduler,
      allowedEntitlements: new Set(config.insecureEntitlements),
      logger: logger.child({ component: 'controller' }),
      exporter: {
        export: (request) => Promise.reject(new Error(`exporter ${request.type} is not available yet`)),
      },
      gateway: {
        loadDefinition: () => {
          throw new Error('LLB definitions cannot be loaded yet');
        },
        frontends: new Map(),
        files: {
          readFile: () => Promise.reject(new Error('not yet')),
          readDir: () => Promise.reject(new Error('not yet')),
          stat: () => Promise.reject(new Error('not yet')),
        },
        images: { resolve: () => Promise.reject(new Error('not yet')) },
        workerPlatforms: platforms,
      },
    });
    const diskUsage: DiskUsageService = {
      usage: async () => [],
      async *prune() {},
    };
    const server = new ApiServer({
      logger,
      ...(config.grpc.tls ? { tls: config.grpc.tls } : {}),
      ...(config.grpc.uid !== undefined ? { uid: config.grpc.uid } : {}),
      ...(config.grpc.gid !== undefined ? { gid: config.grpc.gid } : {}),
    });
    server.addService(
      grpcServiceDefinition(Control),
      controlService({
        controller,
        jobs,
        worker,
        diskUsage,
        sessions: { accept: (call) => void sessions.accept(call) },
      }),
    );
    server.addService(grpcServiceDefinition(LLBBridge), gatewayService({ controller, worker, llbCaps: [] }));
    cleanups.unshift(() => sessions.close());
    for (const address of config.addresses) {
      await server.listen(address);
    }
    cleanups.unshift((graceMs = 0) => server.close(graceMs as number));
    logger.info({ root: config.root, platforms: platforms.length, worker: worker.id }, 'kilnd ready');
    return {
      config,
      worker,
      stop: async (graceMs = 0) => {
        for (const cleanup of cleanups) await (cleanup as (g: number) => Promise<void> | void)(graceMs);
      },
    };
  } catch (err) {
    for (const cleanup of cleanups) await cleanup();
    throw err;
  }
}
